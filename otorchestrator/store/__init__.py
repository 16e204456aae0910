"""Durable state: the SQLite state store, the run lock, and the hash-chained audit log."""
