"""One adapter per engine on one base and one HTTP policy."""
