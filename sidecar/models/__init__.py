"""The model catalog, installed files and verified downloads."""
