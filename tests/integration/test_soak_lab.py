"""Bake time on a real lab host: the real `otorch run` verifies the patched host, soaks it, and when the
host's service dies during the soak, the verify checks of the soak see it and the host is rolled back to its
baseline (real ansible-runner, real SSH, real dpkg).

Runs on its own lab instance (``otsoak``, or ``<OTORCH_LAB_NAME>s``; ports shifted by 600 more), one host."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_execution import PACKAGE, healthy, otorch, version, waveplan

from otorchestrator.exitcodes import ExitCode
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason
from otorchestrator.models.policy import SoakPolicy
from otorchestrator.store import audit as audit_mod

pytestmark = [pytest.mark.lab, pytest.mark.slow]

_BASE = os.environ.get("OTORCH_LAB_NAME") or ""
LAB_NAME = "otsoak" if not _BASE else _BASE[:30] + ("t" if _BASE.endswith("s") else "s")
PORT_OFFSET = int(os.environ.get("OTORCH_LAB_PORT_OFFSET") or 0) + 600
HOST = "nw-hmi-02"


@pytest.fixture(scope="module")
def slab() -> Iterator[LabHandle]:
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    cfg = LabConfig.from_env({"OTORCH_LAB_NAME": LAB_NAME, "OTORCH_LAB_PORT_OFFSET": str(PORT_OFFSET)})
    lifecycle.up(cfg, names=[HOST])
    handle = LabHandle.for_config(cfg)
    handle.hosts = [HOST]
    yield handle
    lifecycle.down(cfg)


def _env() -> dict[str, str]:
    env = dict(os.environ, OTORCH_LAB_NAME=LAB_NAME, OTORCH_LAB_PORT_OFFSET=str(PORT_OFFSET))
    env.pop("OTORCH_OPERATOR", None)
    return env


def _events(state: Path) -> list[audit_mod.AuditEvent]:
    path = state / "audit.jsonl"
    return [e for _, e in audit_mod.read_events(path)] if path.exists() else []


def test_a_service_dying_during_the_soak_is_caught_and_rolled_back(slab: LabHandle, tmp_path: Path) -> None:
    slab.reset(HOST)
    plan = waveplan(slab, [[HOST]], budget=1)
    policy = plan.policy.model_copy(update={"soak": SoakPolicy(minutes=2, interval_seconds=15)})
    update = {"policy": policy, "content_hash": "", "policy_hash": policy.compute_hash()}
    plan = plan.model_copy(update=update)
    plan_file = tmp_path / "waves.json"
    plan_file.write_text(plan.sealed().model_dump_json())
    state = tmp_path / "state"
    broke: list[str] = []

    def break_during_soak() -> None:  # what a real fault looks like: the service dies after verification
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if any(e.kind == "soak_check" for e in _events(state)):
                out = slab.sh(HOST, f"/etc/init.d/{PACKAGE[HOST]} stop", check=False)
                broke.append(out.stdout + out.stderr)
                return
            time.sleep(0.5)

    saboteur = threading.Thread(target=break_during_soak, daemon=True)
    saboteur.start()
    args = ["run", str(plan_file), "--yes", "--json", "--operator", "it-ops", "--state-dir", str(state)]
    result = otorch(*args, env=_env())
    saboteur.join(timeout=5)
    assert broke, "the soak never ran a check round"
    data = json.loads(result.stdout)
    final = {h["host"]: h for h in data["hosts"]}[HOST]
    assert final["state"] == "rolled_back", (final, result.stderr[-3000:])
    assert result.returncode == ExitCode.HALTED, result.stderr[-3000:]
    trail = _events(state)
    checks = [e for e in trail if e.kind == "soak_check"]
    assert checks[0].result == "ok" and checks[-1].result == "failed"
    assert checks[-1].detail["failed"] == [HOST]
    (finished,) = [e for e in trail if e.kind == "soak_finished"]
    assert finished.result == "failed" and HOST in finished.detail["failed"]
    reasons = [e.detail.get("message", "") for e in trail if e.host == HOST and e.result == "rolling_back"]
    assert reasons and reasons[0].startswith("soak check failed at +")
    # back on the baseline, service up again (the rollback reinstalled 1.0.0 and started it)
    assert version(slab, HOST) == "1.0.0" and healthy(slab, HOST)
    phases = [str(e.phase) for e in trail if e.kind == "phase_started"]
    assert phases[:4] == ["diagnostics", "backup", "install", "verify"] and phases[-1] == "rollback"
    assert phases.count("verify") == 1 + len(checks)
