"""Copies of the audit trail outside the controller: RFC 5424 syslog (TCP, optionally TLS) with CEF fields."""
