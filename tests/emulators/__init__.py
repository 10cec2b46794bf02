"""Strict local emulators of remote providers' documented contracts, served on loopback by the tests."""
