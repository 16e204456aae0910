"""Signed decisions: OpenSSH signatures, the site trust file, signed approvals, plans and wave plans."""
