"""Helpers for the role/playbook integration tests: lab catalog entries and a backend bound to the lab."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.results import Phase

PORTS = {
    "nwc-scada-server": 9101,
    "nwc-historian": 9102,
    "nwc-hmi-runtime": 9103,
    "nwc-gateway": 9104,
    "nwc-eng-suite": 9105,
    "nwc-drill-agent": 9106,
}
CANARY = "otorch-canary-7f3a9c1e-secret"
# a secret sitting in the controller's environment (e.g. a CI credential): must not reach the artifacts
ENV_CANARY = "otorch-env-canary-51d0b2"


def patch_entry(lab: LabHandle, package: str, version: str = "1.1.0") -> dict[str, Any]:
    """A catalog entry (contracts.md section 4) for a lab package, sha256 from the lab repository."""
    artifact = f"{package}_{version}_all.deb"
    deb = lab.cfg.repo_dir / "main" / artifact
    return {
        "id": f"LAB-{package}-{version}",
        "vendor": "Northwind Controls",
        "package": package,
        "fixed_version": version,
        "target_version": version,
        "artifact": artifact,
        "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
        "reboot_required": False,
        "services": [package],
        "ports": [PORTS[package]],
        "health_command": f"/usr/bin/{package}-health",
        "required_free_mb": {"/opt/nwc": 20, "/var/cache/apt/archives": 20},
        "config_files": [f"/etc/nwc/{package}.conf"],
    }


def dpkg_status(lab: LabHandle, host: str, package: str) -> str:
    """`<status abbrev><version>` of a package on a lab host, e.g. 'ii 1.0.0'."""
    return lab.sh(host, f"dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' {package}", check=False).stdout


class LabRunner:
    """Runs phase playbooks through the real backend against the lab, always with the canary secret."""

    def __init__(self, lab: LabHandle, state: Path) -> None:
        self.lab = lab
        self.state = state
        self.backend = AnsibleRunnerBackend(state, extra_env=lab.runner_envvars())
        self.inventory = lab.inventory / "hosts.yml"

    def run(
        self, phase: Phase, hosts: dict[str, list[dict[str, Any]]], check_mode: bool = False, **extravars: Any
    ) -> PhaseOutcome:
        request = PhaseRequest(
            phase=phase,
            hosts=tuple(hosts),
            inventory=phase_inventory(self.inventory, tuple(hosts)),
            check_mode=check_mode,
            extravars={"otorch_patches": hosts, **extravars},
            secret_vars={"otorch_canary_secret": CANARY},
            run_label="itest",
            timeout_s=600,
            task_timeout_s=300,
        )
        previous = os.environ.get("SITE_HISTORIAN_DB_PASSWORD")
        os.environ["SITE_HISTORIAN_DB_PASSWORD"] = ENV_CANARY
        try:
            return self.backend.run_phase(request)
        finally:
            if previous is None:
                os.environ.pop("SITE_HISTORIAN_DB_PASSWORD", None)
            else:
                os.environ["SITE_HISTORIAN_DB_PASSWORD"] = previous
