"""`otorch scan` records baselines on the lab, `otorch records` shows them, and `otorch drift` finds a changed
config file."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from otorchestrator.exitcodes import ExitCode
from otorchestrator.lab.handle import LabHandle
from otorchestrator.store.audit import read_events
from otorchestrator.store.audit_records import task_events_digest
from otorchestrator.store.state import StateStore

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        importlib.util.find_spec("otorchestrator.execution.ansible") is None,
        reason="the Ansible backend (otorchestrator/execution/ansible.py) is not in this build",
    ),
]

HOST = "nw-ews-01"
CONF = "/etc/nwc/nwc-eng-suite.conf"


@pytest.fixture
def lab_env(lab: LabHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabHandle]:
    for key, value in lab.runner_envvars().items():
        monkeypatch.setenv(key, value)
    yield lab


def test_scan_then_drift_finds_a_changed_config(lab_env: LabHandle, tmp_path: Path) -> None:
    from otorchestrator.cli.records import drift
    from otorchestrator.cli.scan import scan

    common = [
        "-i",
        str(lab_env.inventory),
        "--limit",
        HOST,
        "--catalog",
        str(lab_env.inventory / "catalog.yml"),
        "--state-dir",
        str(tmp_path / "st"),
        "--operator",
        "test",
    ]
    recorded = CliRunner().invoke(scan, common)
    assert recorded.exit_code == 0, recorded.output
    assert f"{HOST:<14} baseline recorded" in recorded.output and "tcp/9106" in recorded.output
    with StateStore(tmp_path / "st" / "state.db") as store:
        baseline = store.latest_baseline(HOST)
    assert baseline is not None and baseline.data["values"]["config_sha256"][CONF]
    scan_id = _scan_events_covered(tmp_path / "st", baseline.run_id)

    from otorchestrator.cli.records import records

    listed = CliRunner().invoke(records, ["--host", HOST, "--json", "--state-dir", str(tmp_path / "st")])
    assert listed.exit_code == 0, listed.output
    (rec,) = json.loads(listed.output)
    assert rec["asset"] == HOST and rec["baseline"]["age_days"] == 0
    assert "tcp/9105" in rec["baseline"]["listening"] and rec["baseline"]["packages"]["nwc-eng-suite"]

    clean = CliRunner().invoke(drift, common)
    assert clean.exit_code == 0 and f"{HOST}: no drift" in clean.output, clean.output

    lab_env.sh(HOST, f"echo '# drift test' >> {CONF}")
    try:
        drifted = CliRunner().invoke(drift, [*common, "--json", str(tmp_path / "drift.json")])
    finally:
        lab_env.sh(HOST, f"sed -i '$d' {CONF}")  # back to the exact original bytes
    assert drifted.exit_code == ExitCode.CHANGED, drifted.output
    assert f"config {CONF}: " in drifted.output
    assert '"kind": "config"' in (tmp_path / "drift.json").read_text()
    drift_ids = {
        e.run_id for _, e in read_events(tmp_path / "st" / "audit.jsonl") if e.kind == "drift_checked"
    }
    for drift_id in drift_ids:  # the drift checks' scans went through their journal too
        _scan_events_covered(tmp_path / "st", drift_id)
    assert scan_id not in drift_ids and len(drift_ids) >= 1


def _scan_events_covered(root: Path, scan_id: str | None) -> str:
    """The scan's task events are in the store under its id, its scan_result record carries their digest,
    and `otorch audit verify` checks them (issue 12 item 1: on main a scan's events were never stored)."""
    from otorchestrator.cli.audit import audit

    assert scan_id is not None
    results = [
        e for _, e in read_events(root / "audit.jsonl") if e.kind == "scan_result" and e.run_id == scan_id
    ]
    result = results[-1]  # two drift checks in one second share their id: the digest is cumulative
    with StateStore(root / "state.db") as store:
        stored = store.scan_task_events(scan_id, HOST)
    assert result.host == HOST and result.result == "ok" and len(stored) >= 1
    assert {e.phase.value for e in stored} == {"scan"}
    assert result.detail["task_events"] == task_events_digest(stored)
    verified = CliRunner().invoke(audit, ["verify", "--state-dir", str(root), "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["store"]["scans"] >= 1
    return scan_id
