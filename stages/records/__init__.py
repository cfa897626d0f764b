"""The typed records stages hand to each other and to the report, one module per file or family of files."""
