"""Readers: Ansible inventory + OT host vars, advisories, patch catalog. Clear errors with file, path and field."""
