"""servebench pipeline stages (one module per DVC stage) and the library code they share."""
