"""Readers: Ansible inventory + OT host vars, advisories, patch catalog; errors name file, path, field."""
