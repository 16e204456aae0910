"""`otorch resume --forks 2` on the lab (your own instance: OTORCH_LAB_NAME / OTORCH_LAB_PORT_OFFSET, only
the three hosts used are started): a run of one wave of three hosts started with --forks 1 is killed with
SIGKILL while its first host installs; the resume is given --forks 2. The forks reach the engine: the audit
says so (run_started forks 1, run_resumed forks 2), after the resume two hosts are in their chains at once
and never three; the run finishes: completed, the two HMIs succeeded and upgraded once, nw-ews-01 (whose
1.1.0 postinst fails) rolled back and healthy; `otorch audit verify` passes (the task events the killed run
stored included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_execution import PACKAGE, healthy, version, waveplan

from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason
from otorchestrator.store import audit as audit_mod
from otorchestrator.store.state import StateStore

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ["nw-hmi-01", "nw-hmi-02", "nw-ews-01"]
OTORCH = str(Path(sys.executable).parent / "otorch")
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def flab() -> Iterator[LabHandle]:
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    cfg = LabConfig.from_env()
    lifecycle.up(cfg, names=HOSTS)
    handle = LabHandle.for_config(cfg)
    handle.hosts = list(HOSTS)
    handle.reset(*HOSTS)
    try:
        yield handle
    finally:
        handle.reset(*HOSTS)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), **extra)
    env.pop("OTORCH_OPERATOR", None)
    return env


def _otorch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OTORCH, *args], capture_output=True, text=True, env=_env(**env), timeout=900)


def _states(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    try:
        with StateStore(db) as store:
            runs = store.list_runs()
            return {h: r.state.value for h, r in store.host_states(runs[0].run_id).items()} if runs else {}
    except Exception:  # the run holds a write transaction: look again
        return {}


def _upgrades(lab: LabHandle, host: str) -> int:
    out = lab.sh(host, f"grep -c ' upgrade {PACKAGE[host]}' /var/log/dpkg.log || true", check=False)
    return int(out.stdout.strip() or 0)


def _most_at_once(trail: list[Any], after_seq: int) -> int:
    """The most hosts in their chains at once after `after_seq`: from a host's first transition to its
    terminal one (a host waiting for a fork is still pending: no transition)."""
    terminal = {"succeeded", "rolled_back", "blocked", "failed", "rollback_failed", "unreachable", "skipped"}
    live: set[str] = set()
    most = 0
    for e in trail:
        if e.seq <= after_seq or e.kind != "transition" or e.host is None:
            continue
        if e.result in terminal:
            live.discard(e.host)
        else:
            live.add(e.host)
            most = max(most, len(live))
    return most


def test_a_killed_run_resumed_with_forks_2(flab: LabHandle, tmp_path: Path) -> None:
    plan_file = tmp_path / "waves.json"
    plan_file.write_text(waveplan(flab, [HOSTS], budget=1).model_dump_json())
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [OTORCH, "run", str(plan_file), "--yes", "--json", "--forks", "1", "--state-dir", str(state),
         "--operator", "first-op"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "installing" not in _states(state / "state.db").values():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(2)  # apt under way on the first host
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    caught = _states(state / "state.db")
    assert set(caught.values()) & {"installing", "verifying"}, caught
    assert list(caught.values()).count("pending") >= 1, caught  # --forks 1: the others had not started

    run_id = json.loads(_otorch("status", "--json", "--state-dir", str(state)).stdout)["run"]["run_id"]
    resumed = _otorch(
        "resume", run_id, "--yes", "--json", "--forks", "2", "--operator", "second-op",
        "--state-dir", str(state), OTORCH_ORPHAN_GRACE_S="5",
    )  # fmt: skip
    assert resumed.returncode == 3, resumed.stderr[-3000:]  # completed, nw-ews-01 did not succeed
    data = json.loads(resumed.stdout)
    assert {h["host"]: h["state"] for h in data["hosts"]} == {
        "nw-hmi-01": "succeeded", "nw-hmi-02": "succeeded", "nw-ews-01": "rolled_back",
    }  # fmt: skip
    trail = [e for _, e in audit_mod.read_events(state / "audit.jsonl")]
    (started,) = [e for e in trail if e.kind == "run_started"]
    (resumed_at,) = [e for e in trail if e.kind == "run_resumed"]
    assert started.detail["forks"] == 1 and resumed_at.detail["forks"] == 2
    assert _most_at_once(trail, resumed_at.seq) == 2  # two at once, never three: the resume's forks
    assert [e.result for e in trail if e.kind == "run_status"][-1] == "completed"
    for host in HOSTS[:2]:
        assert version(flab, host) == "1.1.0" and healthy(flab, host), host
        assert _upgrades(flab, host) == 1, f"{host} upgraded {_upgrades(flab, host)} times"
    assert version(flab, "nw-ews-01") == "1.0.0" and healthy(flab, "nw-ews-01")
    verified = _otorch("audit", "verify", "--state-dir", str(state))
    assert verified.returncode == 0, verified.stdout + verified.stderr
