"""The `ainfluencer` command line, one module per command group."""
