"""Rollback drills on the lab, through `otorch drill` and the real Ansible backend.

nw-hmi-02 carries the lab knob `leave_telemetry` (file /etc/nwc/lab-knobs/leave-telemetry): nwc-drill-agent
1.1.0 then leaves a process on port 9199 that a rollback does not stop. The clean drill removes the knob file
first; the failing drill keeps it. Both reset the host afterwards (the knob file is restored by the reset)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otorchestrator.exitcodes import ExitCode
from otorchestrator.lab.handle import LabHandle
from otorchestrator.store.audit import read_events, verify
from otorchestrator.store.state import StateStore

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("otorchestrator.execution.ansible") is None,
        reason="the Ansible backend (otorchestrator/execution/ansible.py) is not in this build",
    ),
]

HOST = "nw-hmi-02"
PATCH = "NWC-P-2026-0106"
KNOB = "/etc/nwc/lab-knobs/leave-telemetry"


@pytest.fixture
def drill_host(lab: LabHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabHandle]:
    for key, value in lab.runner_envvars().items():
        monkeypatch.setenv(key, value)
    lab.ensure_baseline(HOST)  # whatever ran before (`make demo` leaves it at 1.1.0)
    assert lab.baseline_differences(HOST) == []
    yield lab
    lab.reset(HOST)


def _drill(lab: LabHandle, state: Path, drill_id: str) -> Result:
    from otorchestrator.cli.drill import drill

    args = [
        "--group", HOST, "--inventory", str(lab.inventory), "--catalog", str(lab.inventory / "catalog.yml"),
        "--patch", PATCH, "--operator", "drill-test", "--drill-id", drill_id, "--state-dir", str(state),
    ]  # fmt: skip
    return CliRunner().invoke(drill, args)


def _evidence(state: Path, drill_id: str) -> dict[str, object]:
    (event,) = [
        e for _, e in read_events(state / "audit.jsonl") if e.kind == "drill_result" and e.run_id == drill_id
    ]
    with StateStore(state / "state.db") as store:
        assert verify(state / "audit.jsonl", store.audit_head()).ok
    return {"result": event.result, **event.detail}


def test_drill_restores_the_baseline(drill_host: LabHandle, tmp_path: Path) -> None:
    drill_host.sh(HOST, f"rm -f {KNOB}")
    result = _drill(drill_host, tmp_path / "state", "DRILL-CLEAN")
    assert result.exit_code == 0, result.output
    assert f"{HOST:<14} PASSED" in result.output and "drill PASSED" in result.output
    report = json.loads((tmp_path / "state" / "reports" / "drill-DRILL-CLEAN.json").read_text())
    (host,) = report["hosts"]
    assert host["verification_ok"] is True  # rolled back although verification passed
    assert host["differences"] == [] and host["final_state"] == "rolled_back"
    assert 0 < host["rollback_seconds"] < 600
    evidence = _evidence(tmp_path / "state", "DRILL-CLEAN")
    assert evidence["result"] == "passed" and evidence["differences"] == []
    version = drill_host.sh(HOST, "dpkg-query -W -f='${Version}' nwc-drill-agent").stdout.strip()
    assert version == "1.0.0"
    assert (tmp_path / "state" / "reports" / "run-DRILL-CLEAN.junit.xml").exists()
    # the pre-drill scan is the host's recorded baseline
    from otorchestrator.cli.records import records

    listed = CliRunner().invoke(records, ["--host", HOST, "--state-dir", str(tmp_path / "state")])
    assert listed.exit_code == 0 and f"{HOST}: baseline " in listed.output and "DRILL-CLEAN" in listed.output


def test_drill_of_a_safety_system_needs_someone_elses_approval(lab: LabHandle, tmp_path: Path) -> None:
    """Refused before anything runs (no Ansible, the host untouched), also when the operator approved it."""
    from otorchestrator.cli.drill import drill

    sis = "nw-sis-01"
    before = lab.sh(sis, "dpkg-query -W -f='${Version}' nwc-hmi-runtime").stdout.strip()
    own = tmp_path / "own.yml"
    own.write_text(
        "approvals:\n  - {kind: drill, subject: nw-sis-01, approved_by: drill-test, reason: proof test,"
        ' at: "2026-03-01T08:00:00+00:00"}\n',
        encoding="utf-8",
    )
    args = [
        "--group", "safety_systems", "--inventory", str(lab.inventory),
        "--catalog", str(lab.inventory / "catalog.yml"), "--patch", "NWC-P-2026-0103",
        "--operator", "drill-test", "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    refused = CliRunner().invoke(drill, args)
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    assert f"{sis} is a safety-system asset" in refused.output, refused.output
    self_approved = CliRunner().invoke(drill, [*args, "--approvals", str(own)])
    assert self_approved.exit_code == ExitCode.REFUSED, self_approved.output
    assert "is by the operator drill-test" in self_approved.output
    assert lab.sh(sis, "dpkg-query -W -f='${Version}' nwc-hmi-runtime").stdout.strip() == before
    with StateStore(tmp_path / "state" / "state.db") as store:
        assert store.list_runs() == []  # no drill run was even started


def test_drill_that_cannot_restore_the_baseline_fails(drill_host: LabHandle, tmp_path: Path) -> None:
    drill_host.sh(HOST, f"test -e {KNOB}")
    result = _drill(drill_host, tmp_path / "state", "DRILL-KNOB")
    assert result.exit_code == ExitCode.HOSTS_FAILED, result.output
    assert f"{HOST:<14} FAILED" in result.output and "drill FAILED" in result.output
    assert "port tcp/9199: not listening -> listening" in result.output
    report = json.loads((tmp_path / "state" / "reports" / "drill-DRILL-KNOB.json").read_text())
    (host,) = report["hosts"]
    assert host["final_state"] == "rollback_failed"
    assert {"kind": "port", "subject": "tcp/9199", "before": None, "after": "listening"} in host[
        "differences"
    ]
    evidence = _evidence(tmp_path / "state", "DRILL-KNOB")
    assert evidence["result"] == "failed"
    assert "port tcp/9199: not listening -> listening" in evidence["differences"]  # type: ignore[operator]
