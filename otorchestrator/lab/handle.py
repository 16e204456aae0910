"""A small handle on a running lab, for tests and tools: inventory, hosts, key, ports, commands in hosts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from otorchestrator.lab import lifecycle
from otorchestrator.lab.config import LabConfig, Progress


def lab_unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/bootstrap.sh)"
    if os.geteuid() != 0:
        return "the lab uses rootful podman: run as root"
    return None


@dataclass
class LabHandle:
    cfg: LabConfig
    inventory: Path
    hosts: list[str]
    key: Path
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_config(cls, cfg: LabConfig) -> LabHandle:
        hosts = lifecycle.select_hosts(cfg)
        return cls(
            cfg=cfg,
            inventory=cfg.inventory_dir,
            hosts=[h.name for h in hosts],
            key=cfg.ssh_key,
            ports={h.name: cfg.port(h.base_port) for h in hosts},
        )

    def container(self, host: str) -> str:
        return self.cfg.container(host)

    def sh(
        self, host: str, command: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command as root inside a lab host (podman exec, not SSH)."""
        proc = subprocess.run(
            ["podman", "exec", self.container(host), "bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{host}: `{command}` failed rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def runner_envvars(self) -> dict[str, str]:
        """envvars for ``ansible_runner.run(..., suppress_env_files=True)`` against this lab."""
        root = self.cfg.root
        return {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(root / ".collections"),
            "ANSIBLE_ROLES_PATH": str(root / "roles"),
            "OTORCH_LAB_PORT_OFFSET": str(self.cfg.port_offset),
        }

    def reset(self, *hosts: str) -> None:
        """Recreate these hosts from the image (the clean baseline)."""
        lifecycle.reset(self.cfg, names=list(hosts))

    def baseline_differences(self, host: str) -> list[str]:
        """How a host differs from its provisioned baseline: package versions and lab knob files.
        Empty when it is at the baseline (what `make demo` or a killed test may have left is listed)."""
        (lab_host,) = lifecycle.select_hosts(self.cfg, names=[host])
        packages = " ".join(pkg for pkg, _ in lab_host.packages)
        probe = (
            f'for p in {packages}; do printf \'%s %s\\n\' "$p" "$(dpkg-query -W -f=\'${{Version}}\' "$p" '
            "2>/dev/null)\"; done; ls /etc/nwc/lab-knobs 2>/dev/null | sed 's/^/knob /'"
        )
        seen: dict[str, str] = {}
        knobs: set[str] = set()
        for line in self.sh(host, probe).stdout.splitlines():
            kind, _, value = line.partition(" ")
            if kind == "knob":
                knobs.add(value.replace("-", "_"))
            else:
                seen[kind] = value
        problems = [
            f"{pkg} {seen.get(pkg) or 'absent'} (baseline {want})"
            for pkg, want in lab_host.packages
            if want and seen.get(pkg) != want
        ]
        problems += [f"lab knob {k} missing" for k in sorted(set(lab_host.knobs) - knobs)]
        problems += [f"lab knob {k} not in the baseline" for k in sorted(knobs - set(lab_host.knobs))]
        return problems

    def ensure_baseline(self, *hosts: str, progress: Progress | None = None) -> list[str]:
        """Reset those of ``hosts`` (default: all) that are not at their baseline; returns the reset ones.
        A test that needs the baseline calls this instead of assuming what an earlier command left."""
        off = {h: d for h in (hosts or tuple(self.hosts)) if (d := self.baseline_differences(h))}
        if off:
            if progress:
                for host, diffs in off.items():
                    progress(f"{host} is off its baseline ({'; '.join(diffs)}): resetting")
            lifecycle.reset(self.cfg, names=list(off), progress=progress or (lambda _m: None))
        return list(off)
