"""One schema per section of ``params.yaml``: a stage imports the sections it reads, and no other."""
