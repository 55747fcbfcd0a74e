"""Benchmarks of optin; each script runs standalone from the project root (see the Makefile)."""
