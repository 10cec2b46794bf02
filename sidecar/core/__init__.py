"""Foundations every other layer uses: errors, redaction, paths, storage, network guard, media probe."""
