"""Vulnerability monitoring: follow CSAF provider feeds and the KEV catalog, verify, store with provenance."""
