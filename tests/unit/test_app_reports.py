"""`app.reports`: the run and compliance reports `otorch report` and the demo write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_drill_cli import FakeHosts

from otorchestrator.app import AppError, drills, reports
from otorchestrator.app.session import Caller
from otorchestrator.exitcodes import ExitCode
from otorchestrator.store.clock import FakeClock

LAB = Path(__file__).parents[2] / "inventories" / "lab"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state store holding one run: drill D1 of nw-hmi-02 (a drill is a run in the store)."""
    request = drills.DrillRequest(
        group="nw-hmi-02", inventory=LAB, patch_id="NWC-P-2026-0106", catalog=LAB / "catalog.yml",
        operator="bob", drill_id="D1", report_dir=tmp_path / "drill-reports",
    )  # fmt: skip
    drills.drill(request, Caller(state_dir=tmp_path / "st", backend=lambda p: FakeHosts(), clock=FakeClock()))
    return tmp_path / "st"


def test_without_a_store_a_run_report_is_no_state(tmp_path: Path) -> None:
    with pytest.raises(AppError) as missing:
        reports.run_report(tmp_path / "nothing")
    assert missing.value.code is ExitCode.NO_STATE and not (tmp_path / "nothing").exists()


def test_the_latest_run_in_every_format_or_only_the_files_named(state: Path, tmp_path: Path) -> None:
    every = reports.run_report(state)
    assert every.report.run_id == "D1" and set(every.written) == {"html", "md", "json", "junit"}
    assert every.written["junit"] == state / "reports" / "run-D1.junit.xml" and every.written["html"].exists()
    one = reports.run_report(state, "D1", targets={"md": tmp_path / "r.md"})
    assert one.written == {"md": tmp_path / "r.md"} and "D1" in (tmp_path / "r.md").read_text()
    both = reports.run_report(state, "D1", targets={"md": tmp_path / "r.md"}, out_dir=tmp_path / "o")
    assert both.written["md"] == tmp_path / "r.md" and both.written["html"] == tmp_path / "o" / "run-D1.html"


def test_an_unknown_run_is_an_error(state: Path) -> None:
    with pytest.raises(AppError, match="R-NOPE") as unknown:
        reports.run_report(state, "R-NOPE")
    assert unknown.value.code is ExitCode.ERROR


def test_compliance_of_the_inventory_written_by_default_beside_the_runs(state: Path) -> None:
    done = reports.compliance_report(state, inventory=LAB, as_of=datetime(2026, 12, 3, tzinfo=UTC))
    assert {a.asset for a in done.report.assets} >= {"nw-hmi-02", "nw-gw-01"}
    assert done.written == {
        "html": state / "reports" / "compliance.html",
        "json": state / "reports" / "compliance.json",
    }
    assert all(p.exists() for p in done.written.values())


def test_compliance_needs_assets_and_a_usable_policy(state: Path, tmp_path: Path) -> None:
    with pytest.raises(AppError, match="give --inventory or --plan") as none:
        reports.compliance_report(state)
    assert none.value.usage
    bad = tmp_path / "policy.yml"
    bad.write_text("compliance: {apply_days: soon}\n")
    with pytest.raises(AppError) as policy:
        reports.compliance_report(state, inventory=LAB, policy=bad)
    assert policy.value.code is ExitCode.ERROR and str(bad) in policy.value.message
