"""The otorchestrator lab: real Linux hosts (rootful podman containers) and a signed APT repository of
fictional vendor software, built and driven by the scripts in ``lab/``. See docs/lab.md."""

from otorchestrator.lab.config import LabConfig
from otorchestrator.lab.inventory import LabHost, load_lab_hosts
from otorchestrator.lab.lifecycle import HostStatus, down, reset, status, up

__all__ = ["HostStatus", "LabConfig", "LabHost", "down", "load_lab_hosts", "reset", "status", "up"]
