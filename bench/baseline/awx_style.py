"""The baseline of bench/wave_speed.py: a wave run the way an AWX workflow of job templates runs it.

One job per phase (diagnostics -> backup -> install -> verify), each an `ansible-runner run` (what an AWX
execution node runs) of round 1's playbook over the whole inventory with `--limit` to the wave, in a fresh
private data dir and a fresh ssh ControlPath directory (a fresh execution environment: no connection
outlives its job); the next job starts when the previous one succeeded (a failed job stops the workflow).
Settings: bench/baseline/ansible.cfg (linear strategy, default ssh_args, no pipelining, the engine's forks).

The playbooks and roles are round 1's (git bc3d43b, 2026-11-22), copied here so the baseline does not move
when roles/ changes. Only the effects live here; what is measured is read by bench/wave_speed.py from the
jobs' artifacts (job_events), as for the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PHASES = ("diagnostics", "backup", "install", "verify")


@dataclass(frozen=True)
class BaselineResult:
    ok: bool
    problem: str  # empty when every job succeeded
    artifacts: Path  # the jobs' private data dirs are under it


def catalog_entries(catalog: Path) -> dict[str, dict[str, Any]]:
    """Patch id -> catalog entry (docs/contracts.md section 4) as the file holds it: round 1's roles read
    the entries themselves, not the engine's model of them."""
    data = yaml.safe_load(catalog.read_text(encoding="utf-8")) or {}
    return {str(p["id"]): dict(p) for p in data.get("patches", [])}


def job_env(cp_dir: Path, port_offset: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(HERE / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(HERE / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(cp_dir),
        OTORCH_LAB_PORT_OFFSET=str(port_offset),
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
    )
    return env


def close_masters(cp_dir: Path) -> None:
    """End the job's ssh masters, as the end of an execution environment's container does."""
    for sock in cp_dir.iterdir() if cp_dir.is_dir() else ():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "baseline"],
            capture_output=True, timeout=10, check=False,
        )  # fmt: skip
    shutil.rmtree(cp_dir, ignore_errors=True)


def run_wave(
    inventory: Path,
    hosts: Sequence[str],
    patches: Mapping[str, Sequence[Mapping[str, Any]]],
    work: Path,
    port_offset: int,
) -> BaselineResult:
    """Run the four phase jobs over `hosts` (patches: host -> catalog entries); artifacts under `work`."""
    work.mkdir(parents=True, exist_ok=True)
    extravars = {
        "otorch_patches": {h: list(patches[h]) for h in hosts},
        "otorch_backup_store_dir": str((work / "backups").resolve()),
        "otorch_backup_id": "baseline-bk",
        "otorch_run_id": "baseline",
    }
    for phase in PHASES:
        pdd = work / phase
        (pdd / "env").mkdir(parents=True)
        (pdd / "env" / "extravars").write_text(json.dumps({**extravars, "otorch_phase": phase}))
        cp_dir = Path(tempfile.mkdtemp(prefix="otbase-cp-"))
        try:
            done = subprocess.run(
                [str(Path(sys.executable).parent / "ansible-runner"), "run", str(pdd),
                 "-p", str(HERE / "playbooks" / f"{phase}.yml"), "--project-dir", str(HERE),
                 "--inventory", str(inventory), "--limit", ",".join(hosts), "-i", "job", "-q"],
                env=job_env(cp_dir, port_offset), cwd=HERE, capture_output=True, text=True, check=False,
            )  # fmt: skip
        finally:
            close_masters(cp_dir)
        if done.returncode != 0:
            out = pdd / "artifacts" / "job" / "stdout"
            tail = out.read_text(errors="replace")[-600:] if out.is_file() else done.stderr[-600:]
            return BaselineResult(False, f"{phase} job rc {done.returncode}: {tail}", work)
    return BaselineResult(True, "", work)
