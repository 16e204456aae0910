"""The lab side both wave benches share (bench/wave_speed.py, bench/wave_overhead.py): which hosts, the lab
they run on (started and reset by the bench itself), a one-wave plan, `otorch run` as a process, and the
ansible-runner job events every variant leaves behind, and what the lab hosts cost (`podman stats`).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BASELINE_CFG = Path(__file__).resolve().parent / "ansible.cfg"
CLEAN_PACKAGES = ("nwc-scada-server", "nwc-historian", "nwc-hmi-runtime", "nwc-drill-agent")
BLOCKING_KNOBS = ("nearly_full_disk",)  # its diagnostics block the host: not a clean upgrade


def wave_hosts(inventory_hosts: Mapping[str, Mapping[str, Any]], n: int) -> list[tuple[str, str]]:
    """The first `n` hosts (inventory order) that take a clean upgrade, each with the package it upgrades:
    its first installed product among CLEAN_PACKAGES; hosts whose knobs block the upgrade are left out."""
    chosen = []
    for name, host in inventory_hosts.items():
        if any(k in BLOCKING_KNOBS for k in host.get("lab_knobs") or ()):
            continue
        packages = [p.get("package") for p in host.get("ot_installed_products") or ()]
        clean = [p for p in packages if p in CLEAN_PACKAGES]
        if clean:
            chosen.append((name, str(clean[0])))
        if len(chosen) == n:
            break
    return chosen


@dataclass
class Lab:
    """The lab the bench runs on: its config (scale inventory when needed), catalog and hosts."""

    cfg: Any  # otorchestrator.lab.LabConfig
    inventory: Path
    catalog: Path
    hosts: dict[str, Any]  # the inventory's hosts.yml data, by name

    @classmethod
    def start(cls, largest: int, progress: Any = print) -> Lab:
        """Start (idempotently) a lab holding `largest` clean-upgrade hosts: the scale lab when needed."""
        from dataclasses import replace

        import yaml
        from otorchestrator.lab import LabConfig, lifecycle
        from otorchestrator.lab.scale import scale_hosts

        cfg = LabConfig.from_env(root=ROOT)
        base = yaml.safe_load((cfg.base_inventory_dir / "hosts.yml").read_text()) or {}
        data, total = base, len(base["all"]["hosts"])
        while len(wave_hosts(data["all"]["hosts"], largest)) < largest:
            total += 1
            data = scale_hosts(base, total)
        if total > len(base["all"]["hosts"]):
            lifecycle.up(cfg, total, progress)
            cfg = replace(cfg, inventory=cfg.scale_dir)
        else:
            cfg = replace(cfg, inventory=None)
            lifecycle.up(cfg, progress=progress)
        catalog = cfg.base_inventory_dir / "catalog.yml"
        return cls(cfg, cfg.inventory_dir, catalog, dict(data["all"]["hosts"]))

    def reset(self, names: Sequence[str]) -> None:
        from otorchestrator.lab import lifecycle

        lifecycle.reset(self.cfg, names=list(names))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "OTORCH_"))}
        env.update(
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),  # the project's (what `make demo` runs with)
            ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
            OTORCH_LAB_NAME=self.cfg.name,
            OTORCH_LAB_PORT_OFFSET=str(self.cfg.port_offset),
            OTORCH_LAB_INVENTORY=str(self.inventory),
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        )
        return env


def build_plan(lab: Lab, chosen: Sequence[tuple[str, str]], waves: int = 1) -> Any:
    """A sealed wave plan: the chosen hosts, each with the patch of its package, in `waves` consecutive
    waves of (nearly) equal size; every wave's failure budget tolerates all of its hosts."""
    from datetime import UTC, timedelta

    from otorchestrator.intake.catalog import load_catalog_strict
    from otorchestrator.intake.inventory import load_inventory
    from otorchestrator.models.plan import Approval, Decision
    from otorchestrator.models.policy import WavePolicy
    from otorchestrator.models.waves import Rule, Wave, WaveHost, WaveItem, WavePlan

    now = datetime.now(UTC)
    assets = load_inventory(lab.inventory).by_name()
    by_package = {p.package: p for p in load_catalog_strict(lab.catalog).patches}
    policy = WavePolicy()
    hosts = []
    for name, package in chosen:
        asset, patch = assets[name], by_package[package]
        approval = (
            Approval(kind="asset", subject=name, approved_by="bench", reason="bench", at=now)
            if policy.needs_approval(asset.criticality, asset.safety_system)
            else None
        )
        hosts.append(
            WaveHost(
                name=name, zone=asset.zone, purdue_level=asset.purdue_level, role=asset.role,
                criticality=asset.criticality, safety_system=asset.safety_system,
                redundancy_group=asset.redundancy_group,
                items=(WaveItem(patch_id=patch.id, priority_rank=1, decision=Decision.SCHEDULED),),
                duration_minutes=patch.expected_duration_minutes, rollback_minutes=patch.rollback_minutes,
                window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=20),
                latest_start=now + timedelta(hours=19), approval=approval,
                placement_rule=Rule.RISK_ORDER, placement_reason="bench",
            )
        )  # fmt: skip
    parts = [hosts[i * len(hosts) // waves : (i + 1) * len(hosts) // waves] for i in range(waves)]
    planned = tuple(
        Wave(
            index=i, name=f"wave-{i}", kind="wave", slot_start=now, slot_end=now + timedelta(hours=1),
            failure_budget=len(part), hosts=tuple(part),
        )
        for i, part in enumerate(p for p in parts if p)
    )  # fmt: skip
    patches = {by_package[p].id: by_package[p] for _, p in chosen}
    return WavePlan(
        created_at=now, plan_hash="sha256:" + "0" * 64, policy_hash=policy.compute_hash(), policy=policy,
        inventory=str(lab.inventory), assets=tuple(assets[n] for n, _ in chosen),
        patches=tuple(patches.values()), waves=planned,
    ).sealed()  # fmt: skip


def read_events(root: Path) -> list[dict[str, Any]]:
    """Every ansible-runner job event under `root` (the jobs' artifacts/<ident>/job_events)."""
    return [json.loads(f.read_text()) for d in sorted(root.rglob("job_events")) for f in d.glob("*.json")]


def otorch_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "otorch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "otorchestrator.cli.main"]


def engine_problem(done: Any) -> str:
    """Empty when `otorch run` completed with every host succeeded; else what went wrong."""
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        return f"otorch run rc {done.returncode}: {(done.stderr or done.stdout)[-500:]}"
    bad = [f"{h['host']}: {h['state']}" for h in doc.get("hosts", []) if h.get("state") != "succeeded"]
    return "" if done.returncode == 0 and not bad else f"otorch run rc {done.returncode}: {'; '.join(bad)}"


def baseline_forks(cfg: Path = BASELINE_CFG) -> int:
    """The baseline job template's forks (its ansible.cfg): what the engine is given too (`--forks`)."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(cfg)
    return parser.getint("defaults", "forks")


def otorch_run_cmd(lab: Lab, plan_file: Path, state_dir: Path, extra: Sequence[str] = ()) -> list[str]:
    """`otorch run` of a plan on this lab: state in `state_dir`, the lab's catalog and repository, the
    baseline's forks (the engine's default, 10, would hold 24 hosts to 10 chains at once while the baseline
    and the plain side run 20 hosts a task)."""
    return [
        *otorch_cmd(), "run", str(plan_file), "--operator", "bench", "--yes", "--json",
        "--state-dir", str(state_dir), "-i", str(lab.inventory), "--catalog", str(lab.catalog),
        "--artifacts", str(lab.cfg.repo_dir / "main"), "--forks", str(baseline_forks()), *extra,
    ]  # fmt: skip


# -- what the lab hosts cost: podman stats of their containers
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kMGT]?i?B)")
_UNIT_MB = {"B": 1e-6, "kB": 1e-3, "KiB": 1.024e-3, "MB": 1.0, "MiB": 1.048576, "GB": 1e3, "GiB": 1073.741824}


def duration_s(text: str) -> float:
    """A Go duration as podman prints cpu_time ("1m2.5s", "725.5ms", "3µs") in seconds."""
    return sum(float(n) * _UNIT_S[u] for n, u in _DURATION.findall(text))


def size_mb(text: str) -> float:
    """The first size of a podman mem_usage ("15.7MB / 25.28GB") in MB."""
    found = _SIZE.search(text)
    return float(found.group(1)) * _UNIT_MB.get(found.group(2), 0.0) if found else 0.0


@dataclass(frozen=True)
class HostUsage:
    cpu_s: float  # CPU seconds since the container started
    mem_mb: float


def host_usage(stats: Sequence[Mapping[str, Any]]) -> dict[str, HostUsage]:
    """container name -> its usage, from `podman stats --no-stream --format json`."""
    return {
        str(row["name"]): HostUsage(
            duration_s(str(row.get("cpu_time", ""))), size_mb(str(row.get("mem_usage", "")))
        )
        for row in stats
    }


def lab_cost_text(first: Mapping[str, HostUsage], then: Mapping[str, HostUsage], seconds: float) -> str:
    """One line: the lab hosts' memory (`then`) and CPU share over the `seconds` between two samples,
    median and max per host."""
    names = [n for n in then if n in first]
    if not names or seconds <= 0:
        return "lab hosts: no podman stats"
    mem = [then[n].mem_mb for n in names]
    cpu = [100 * max(0.0, then[n].cpu_s - first[n].cpu_s) / seconds for n in names]
    return (
        f"lab hosts: {len(names)}, memory per host {statistics.median(mem):.1f} MB median, {max(mem):.1f} "
        f"MB max ({sum(mem):.0f} MB in all); CPU per host {statistics.median(cpu):.2f}% median, "
        f"{max(cpu):.2f}% max of one core (podman stats, {seconds:.0f} s before the first wave)"
    )


def podman_usage(containers: Sequence[str]) -> dict[str, HostUsage]:
    """`podman stats --no-stream` of these containers ({} when podman cannot say)."""
    import subprocess

    done = subprocess.run(
        ["podman", "stats", "--no-stream", "--format", "json", *containers],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    try:
        return host_usage(json.loads(done.stdout)) if done.returncode == 0 else {}
    except ValueError:
        return {}


def lab_cpu(before: Mapping[str, HostUsage], after: Mapping[str, HostUsage]) -> float:
    """CPU seconds the containers used between two `podman_usage` calls (a recreated one: from zero)."""
    return sum(max(0.0, a.cpu_s - (before[n].cpu_s if n in before else 0.0)) for n, a in after.items())
