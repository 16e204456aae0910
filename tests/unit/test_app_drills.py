"""`app.drills.drill`: what `otorch drill` calls (catalog patch, hosts, approvals, spec, lock, reports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_drill_cli import FakeHosts

from otorchestrator.app import AppError, drills
from otorchestrator.app.scans import OptionError
from otorchestrator.app.session import Caller
from otorchestrator.exitcodes import ExitCode
from otorchestrator.store.audit import read_events
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.state import StateStore

LAB = Path(__file__).parents[2] / "inventories" / "lab"


def _request(**kw: object) -> drills.DrillRequest:
    fields: dict[str, object] = {
        "group": "nw-hmi-02", "inventory": LAB, "patch_id": "NWC-P-2026-0106",
        "catalog": LAB / "catalog.yml", "operator": "bob", "drill_id": "D1",
    }  # fmt: skip
    return drills.DrillRequest(**{**fields, **kw})  # type: ignore[arg-type]


def _caller(tmp_path: Path, backend: FakeHosts) -> Caller:
    return Caller(state_dir=tmp_path / "st", backend=lambda paths: backend, clock=FakeClock())


def test_a_drill_writes_its_report_and_the_run_reports_under_the_lock(tmp_path: Path) -> None:
    heard: list[str] = []
    drilled = drills.drill(_request(), _caller(tmp_path, FakeHosts()), progress=heard.append)
    assert drilled.report.passed and drilled.exit_code is ExitCode.OK and heard
    assert drilled.drill_json == tmp_path / "st" / "reports" / "drill-D1.json"
    assert json.loads(drilled.drill_json.read_text())["hosts"][0]["host"] == "nw-hmi-02"
    assert {"html", "junit"} <= set(drilled.written) and all(p.exists() for p in drilled.written.values())
    with StateStore(tmp_path / "st" / "state.db") as store:
        assert store.get_run("D1").run_id == "D1" and store.lock_holder() is None
    assert "drill_result" in {e.kind for _, e in read_events(tmp_path / "st" / "audit.jsonl")}


def test_a_baseline_not_restored_is_hosts_failed(tmp_path: Path) -> None:
    drilled = drills.drill(_request(), _caller(tmp_path, FakeHosts(leave_port={"nw-hmi-02"})))
    assert not drilled.report.passed and drilled.exit_code is ExitCode.HOSTS_FAILED


def test_an_unknown_patch_names_the_option_and_the_closest_patch(tmp_path: Path) -> None:
    backend = FakeHosts()
    with pytest.raises(OptionError) as bad:
        drills.drill(_request(patch_id="NWC-P-2026-010"), _caller(tmp_path, backend))
    assert (
        bad.value.option == "--patch" and bad.value.usage and "did you mean NWC-P-2026-0106" in str(bad.value)
    )
    assert backend.calls == []


def test_a_safety_system_without_someone_elses_approval_is_refused_untouched(tmp_path: Path) -> None:
    backend = FakeHosts()
    own = tmp_path / "approvals.yml"
    own.write_text(
        "approvals:\n  - {kind: drill, subject: nw-sis-01, approved_by: bob, reason: r, "
        'at: "2026-03-01T08:00:00+00:00"}\n'
    )
    request = _request(group="safety_systems", patch_id="NWC-P-2026-0103", approval_files=(own,))
    with pytest.raises(AppError) as refused:
        drills.drill(request, _caller(tmp_path, backend))
    assert refused.value.code is ExitCode.REFUSED and "is by the operator bob" in refused.value.message
    assert backend.calls == []


def test_unusable_approvals_are_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "approvals.yml"
    bad.write_text("approvals:\n  - {kind: drill, subject: nw-sis-01}\n")
    request = _request(group="safety_systems", patch_id="NWC-P-2026-0103", approval_files=(bad,))
    with pytest.raises(AppError) as refused:
        drills.drill(request, _caller(tmp_path, FakeHosts()))
    assert refused.value.code is ExitCode.INPUT_INVALID
    assert refused.value.message.startswith(f"{bad}: unusable approvals (nothing was touched):\n  ")
