"""otorchestrator: safe, phased, audited patching of OT/ICS hosts through Ansible."""

__version__ = "0.1.0"
