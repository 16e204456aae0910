"""`otorch drift` writes through the journal of the check (app/drifts.py): a `drift_checked` audit record per
host and, with --accept, each new baseline's audit record before its store row, all under the check's id
(so is the backend's request); a secret registered for the check reaches neither the store nor the audit."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_drill_cli import FakeHosts
from test_scan_journal import SECRET, Leaky

from otorchestrator.app import AppError, drifts, scans
from otorchestrator.app.session import Caller
from otorchestrator.cli import records
from otorchestrator.exitcodes import ExitCode
from otorchestrator.store.audit import read_events, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.journal_scan import SCAN_FINISHED, SCAN_RESULT, SCAN_STARTED
from otorchestrator.store.state import StateStore

LAB = Path(__file__).parents[2] / "inventories" / "lab"
HOST = "nw-hmi-01"
SCAN_KINDS = {SCAN_STARTED, SCAN_RESULT, SCAN_FINISHED}


def _caller(tmp_path: Path, backend: FakeHosts) -> Caller:
    return Caller(state_dir=tmp_path / "st", backend=lambda paths: backend, clock=FakeClock())


def _events(tmp_path: Path) -> list[Any]:
    """The audit records besides the scan's own (scan_started, scan_result, scan_finished)."""
    return [e for _, e in read_events(tmp_path / "st" / "audit.jsonl") if e.kind not in SCAN_KINDS]


def test_drift_accept_audits_each_baseline_before_its_store_row_under_the_check_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = Leaky()  # FakeHosts that keeps the requests (their run ids)
    scans.scan(LAB, "carol", _caller(tmp_path, backend), limit=HOST, scan_id="SCAN-T1")
    backend.state[HOST]["version"] = "1.1.0"  # the package drifted since the baseline
    audit_path = tmp_path / "st" / "audit.jsonl"
    saved_after: list[list[tuple[str, str | None, str | None]]] = []
    save_baseline = StateStore.save_baseline

    def spy(self: StateStore, host: str, *args: Any, **kwargs: Any) -> Any:
        saved_after.append([(e.kind, e.host, e.run_id) for e in _events(tmp_path)])
        return save_baseline(self, host, *args, **kwargs)

    monkeypatch.setattr(StateStore, "save_baseline", spy)
    monkeypatch.setattr(records, "make_backend", lambda paths: backend)
    args = ["-i", str(LAB), "--limit", HOST, "--state-dir", str(tmp_path / "st"), "--operator", "dave"]
    result = CliRunner().invoke(records.drift, [*args, "--accept"])
    assert result.exit_code == ExitCode.CHANGED, result.output
    assert f"{HOST}: 1 difference(s)" in result.output and "new scans recorded as baselines" in result.output

    drift_id = backend.requests[-1].run_id  # what the backend's orphan clean-up is given
    assert drift_id is not None and drift_id.startswith("DRIFT-")
    audit = [e for _, e in read_events(audit_path)]
    started = [e for e in audit if e.kind == "scan_started" and e.run_id == drift_id]
    assert [e.operator for e in started] == ["dave"]  # the drift check's scan names its --operator
    checked, accepted = _events(tmp_path)[1:]
    assert (checked.kind, checked.host, checked.run_id, checked.result, checked.operator) == (
        drifts.DRIFT_CHECKED, HOST, drift_id, "drift", "dave"
    )  # fmt: skip
    assert checked.detail["differences"] == ["package nwc-drill-agent: 1.0.0 -> 1.1.0"]
    assert (accepted.kind, accepted.host, accepted.run_id) == (scans.BASELINE_RECORDED, HOST, drift_id)
    assert accepted.detail == {"accepted_drift": True}
    # the accepted baseline's store row is written after its audit record (the journal's order)
    assert saved_after == [
        [("baseline_recorded", HOST, "SCAN-T1"), *[(e.kind, e.host, e.run_id) for e in (checked, accepted)]]
    ]
    with StateStore(tmp_path / "st" / "state.db") as store:
        baseline = store.latest_baseline(HOST)
        assert baseline is not None and baseline.run_id == drift_id
        assert baseline.data["values"]["packages"] == {"nwc-drill-agent": "1.1.0"}
        assert verify(audit_path, expected_head=store.audit_head()).ok

    again = CliRunner().invoke(records.drift, args)  # without --accept: audited, no baseline written
    assert again.exit_code == 0 and f"{HOST}: no drift" in again.output, again.output
    assert len(saved_after) == 1 and _events(tmp_path)[-1].result == "clean"


def test_a_registered_secret_in_a_drift_check_reaches_neither_store_nor_audit(tmp_path: Path) -> None:
    scans.scan(LAB, "carol", _caller(tmp_path, Leaky()), limit=HOST, secrets=[SECRET])
    drifted = drifts.check_drift(
        LAB,
        "dave",
        _caller(tmp_path, Leaky()),
        limit=HOST,
        accept=True,
        secrets=[SECRET],
        drift_id="DRIFT-T1",
    )
    assert drifted.drift_id == "DRIFT-T1" and drifted.accepted and not drifted.changed
    assert [d.host for d in drifted.drifts] == [HOST]
    with sqlite3.connect(tmp_path / "st" / "state.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "DRIFT-T1" in dump and "motd" in dump and SECRET not in dump  # the accepted baseline, scrubbed
    assert SECRET not in (tmp_path / "st" / "audit.jsonl").read_text(encoding="utf-8")
    assert [(e.kind, e.run_id) for e in _events(tmp_path)[1:]] == [
        (drifts.DRIFT_CHECKED, "DRIFT-T1"), (scans.BASELINE_RECORDED, "DRIFT-T1")
    ]  # fmt: skip


def test_an_unreachable_host_is_not_checked_and_keeps_its_baseline(tmp_path: Path) -> None:
    from test_app_scans import OneUnreachable

    scans.scan(LAB, "carol", _caller(tmp_path, FakeHosts()), limit="nw-hmi-*")
    drifted = drifts.check_drift(
        LAB, "dave", _caller(tmp_path, OneUnreachable()), limit="nw-hmi-*", accept=True
    )
    assert drifted.changed and [(d.host, d.error) for d in drifted.drifts] == [
        ("nw-hmi-01", ""), ("nw-hmi-02", "scan unreachable:")
    ]  # fmt: skip
    recorded = [(e.kind, e.host, e.result) for e in _events(tmp_path)[2:]]
    assert recorded == [
        (drifts.DRIFT_CHECKED, "nw-hmi-01", "clean"),
        (drifts.DRIFT_CHECKED, "nw-hmi-02", "error"),
        (scans.BASELINE_RECORDED, "nw-hmi-01", "ok"),
    ]
    with StateStore(tmp_path / "st" / "state.db") as store:
        kept = store.latest_baseline("nw-hmi-02")
        assert kept is not None and kept.run_id != drifted.drift_id


def test_no_host_selected_is_refused_before_any_scan(tmp_path: Path) -> None:
    backend = FakeHosts()
    with pytest.raises(AppError, match="no host to check"):
        drifts.check_drift(LAB, "dave", _caller(tmp_path, backend), limit="nw-hmi-01:&nw-gw-01")
    assert backend.calls == []
