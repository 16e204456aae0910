"""`app.scans.scan`: what `otorch scan` and the demo share (scan, baselines, audit records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_drill_cli import FakeHosts

from otorchestrator.app import AppError, scans
from otorchestrator.app.session import Caller
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.store.audit import read_events, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.state import StateStore

LAB = Path(__file__).parents[2] / "inventories" / "lab"


class OneUnreachable(FakeHosts):
    def run_phase(self, request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        outcome = super().run_phase(request, on_event, cancel)
        outcome.results["nw-hmi-02"] = PhaseResult(
            phase=Phase.SCAN, host="nw-hmi-02", ok=False, outcome=HostOutcome.UNREACHABLE
        )
        return outcome


def _caller(tmp_path: Path, backend: FakeHosts) -> Caller:
    return Caller(state_dir=tmp_path / "st", backend=lambda paths: backend, clock=FakeClock())


def test_scan_records_a_baseline_and_an_audit_record_per_complete_scan(tmp_path: Path) -> None:
    backend = OneUnreachable()
    scanned = scans.scan(
        LAB, "carol", _caller(tmp_path, backend), limit="nw-hmi-*", catalog=LAB / "catalog.yml"
    )
    assert sorted(h for h, _ in backend.calls) == ["nw-hmi-01", "nw-hmi-02"]
    assert list(scanned.recorded) == ["nw-hmi-01"] and scanned.exit_code is ExitCode.HOSTS_FAILED
    assert scanned.not_recorded == {"nw-hmi-02": "scan unreachable: unreachable"}
    recorded = scanned.recorded["nw-hmi-01"]
    assert recorded.packages == {"nwc-drill-agent": "1.0.0"} and recorded.listening == ("tcp/22", "tcp/9106")
    with StateStore(tmp_path / "st" / "state.db") as store:
        assert store.latest_baseline("nw-hmi-01") is not None and store.latest_baseline("nw-hmi-02") is None
        assert verify(tmp_path / "st" / "audit.jsonl", expected_head=store.audit_head()).ok
    (event,) = [
        e for _, e in read_events(tmp_path / "st" / "audit.jsonl") if e.kind == scans.BASELINE_RECORDED
    ]
    assert (event.kind, event.host, event.operator) == (scans.BASELINE_RECORDED, "nw-hmi-01", "carol")
    assert event.detail == {"packages": 1, "ports": ["tcp/22", "tcp/9106"]}


def test_a_bad_limit_is_an_option_error_and_nothing_is_scanned(tmp_path: Path) -> None:
    backend = FakeHosts()
    with pytest.raises(scans.OptionError) as bad:
        scans.scan(LAB, "carol", _caller(tmp_path, backend), limit="role_hmx")
    assert (
        bad.value.option == "--limit" and bad.value.code is ExitCode.USAGE and "role_hmi" in bad.value.message
    )
    with pytest.raises(AppError, match="no host to scan") as none:
        scans.scan(LAB, "carol", _caller(tmp_path, backend), limit="nw-hmi-01:&nw-gw-01")
    assert none.value.usage and backend.calls == []


def test_an_unusable_catalog_is_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("patches:\n  - {id: P, vendor: V, product: X, target_version: '1'}\n")
    with pytest.raises(AppError) as refused:
        scans.scan(LAB, "carol", _caller(tmp_path, FakeHosts()), catalog=bad)
    assert refused.value.code is ExitCode.INPUT_INVALID and "fixed_version" in refused.value.message
