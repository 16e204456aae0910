"""Pure parsing of recorded ansible-runner events (tests/fixtures/runner_events/, recorded on the lab)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otorchestrator.execution.backend import RunStatus
from otorchestrator.execution.events import FailureTracker, phase_results, reported_results, task_event
from otorchestrator.models.results import HostOutcome, Phase

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runner_events"


def load(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())
    return events


def track(events: list[dict[str, Any]]) -> FailureTracker:
    tracker = FailureTracker()
    for event in events:
        tracker.feed(event)
    return tracker


def test_diagnostics_results_come_from_artifact_data() -> None:
    events = load("diagnostics_three_hosts.json")
    hosts = ("nw-hist-01", "nw-hmi-02", "nw-gw-01")
    results = phase_results(Phase.DIAGNOSTICS, hosts, track(events), RunStatus.FAILED)
    assert set(results) == set(hosts)
    hist = results["nw-hist-01"]
    assert not hist.ok and hist.outcome == HostOutcome.FAILED
    assert [c.name for c in hist.failed_checks] == ["disk_free:/opt/nwc"]
    disk = hist.failed_checks[0]
    assert disk.value < disk.threshold == 20
    assert hist.failed_task == "Fail the host when a check fails"
    for name in ("nw-hmi-02", "nw-gw-01"):
        assert results[name].ok and results[name].outcome == HostOutcome.OK
        names = {c.name for c in results[name].checks}
        assert {"repo_signature", "dpkg_lock_free", "memory_available_mb", "reboot_not_pending"} <= names
    assert results["nw-gw-01"].versions_before == {"nwc-gateway": "1.0.0"}


def test_per_host_stats_never_reach_artifact_data() -> None:
    stats = next(e for e in load("diagnostics_three_hosts.json") if e["event"] == "playbook_on_stats")
    assert set(stats["event_data"]["artifact_data"]) == {"otorch_results"}  # no per_host otorch_result
    assert set(reported_results(stats["event_data"])) == {"nw-hist-01", "nw-hmi-02", "nw-gw-01"}


def test_failed_install_and_unreachable_host() -> None:
    events = load("install_engsuite_fail_unreachable.json")
    hosts = ("nw-ews-01", "nw-hmi-01", "nw-sis-01")
    results = phase_results(Phase.INSTALL, hosts, track(events), RunStatus.FAILED)
    ews = results["nw-ews-01"]
    assert not ews.ok and ews.outcome == HostOutcome.FAILED
    assert {c.name for c in ews.failed_checks} == {"install_step", "installed:nwc-eng-suite"}
    assert ews.versions_before == {"nwc-eng-suite": "1.0.0"} and ews.versions_after == {
        "nwc-eng-suite": "1.1.0"
    }
    assert results["nw-hmi-01"].ok and results["nw-hmi-01"].versions_after == {"nwc-hmi-runtime": "1.1.0"}
    sis = results["nw-sis-01"]
    assert not sis.ok and sis.outcome == HostOutcome.UNREACHABLE
    assert sis.failed_task == "Gathering Facts" and "reached" in sis.message


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (RunStatus.TIMEOUT, HostOutcome.TIMED_OUT),
        (RunStatus.CANCELED, HostOutcome.CANCELED),
        (RunStatus.FAILED, HostOutcome.NO_RESULT),
    ],
)
def test_host_without_report(status: RunStatus, outcome: HostOutcome) -> None:
    results = phase_results(Phase.VERIFY, ["ghost"], FailureTracker(), status)
    assert results["ghost"].outcome == outcome and not results["ghost"].ok


def test_failed_task_without_report_names_the_task() -> None:
    tracker = track(
        [
            {
                "event": "runner_on_failed",
                "event_data": {"host": "h1", "task": "Install", "res": {"msg": "boom", "stderr": "E: x"}},
            },
            {"event": "playbook_on_stats", "event_data": {"failures": {"h1": 1}, "artifact_data": {}}},
        ]
    )
    result = phase_results(Phase.INSTALL, ["h1"], tracker, RunStatus.FAILED)["h1"]
    assert result.outcome == HostOutcome.FAILED and result.failed_task == "Install"
    assert result.message == "boom | E: x"


def test_malformed_report_is_no_crash() -> None:
    tracker = track(
        [
            {
                "event": "playbook_on_stats",
                "event_data": {"artifact_data": {"otorch_results": {"h1": {"ok": True, "checks": "x"}}}},
            }
        ]
    )
    result = phase_results(Phase.SCAN, ["h1"], tracker, RunStatus.SUCCESSFUL)["h1"]
    assert not result.ok and "malformed" in result.message


def test_task_events() -> None:
    events = load("install_engsuite_fail_unreachable.json")
    mapped = [te for e in events if (te := task_event(e, Phase.INSTALL)) is not None]
    statuses = {te.status for te in mapped}
    assert {"ok", "failed", "unreachable", "skipped"} <= statuses
    assert any(te.status == "changed" and te.host == "nw-hmi-01" for te in mapped)
    failed = [te for te in mapped if te.status == "failed" and te.host == "nw-ews-01"]
    assert failed and failed[0].task == "Install the exact target versions from the signed repository"
    assert task_event({"event": "playbook_on_stats", "event_data": {}}, Phase.INSTALL) is None
    ignored = task_event(
        {"event": "runner_on_failed", "event_data": {"host": "h", "ignore_errors": True}}, Phase.SCAN
    )
    assert ignored is not None and ignored.status == "ok"


def _report(**fields: Any) -> FailureTracker:
    raw = {"schema": 1, "phase": "verify", "host": "h1", "ok": True, "checks": [], **fields}
    return track(
        [{"event": "playbook_on_stats", "event_data": {"artifact_data": {"otorch_results": {"h1": raw}}}}]
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"phase": "install"}, "phase 'install' (expected 'verify')"),
        ({"host": "h2"}, "host 'h2' (expected 'h1')"),
        (
            {"phase": "scan", "host": "other"},
            "phase 'scan' (expected 'verify') and host 'other' (expected 'h1')",
        ),
        ({"phase": None}, "phase None (expected 'verify')"),
    ],
)
def test_report_naming_another_phase_or_host_is_not_patched_up(fields: dict[str, Any], expected: str) -> None:
    """A role that reports the wrong phase/host fails the parse: the ok=true it claims is not believed."""
    result = phase_results(Phase.VERIFY, ["h1"], _report(**fields), RunStatus.SUCCESSFUL)["h1"]
    assert not result.ok and result.outcome == HostOutcome.NO_RESULT
    assert result.phase == Phase.VERIFY and result.host == "h1" and result.checks == ()
    assert result.failed_task == "set_stats otorch_result"
    assert "malformed result: the role reported" in result.message and expected in result.message


def test_report_naming_another_host_of_a_failed_host_stays_failed() -> None:
    tracker = _report(host="h2")
    tracker.feed(
        {"event": "runner_on_failed", "event_data": {"host": "h1", "task": "Verify", "res": {"msg": "x"}}}
    )
    result = phase_results(Phase.VERIFY, ["h1"], tracker, RunStatus.FAILED)["h1"]
    assert not result.ok and result.outcome == HostOutcome.FAILED and "host 'h2'" in result.message


def test_report_naming_its_own_phase_and_host_is_accepted() -> None:
    result = phase_results(Phase.VERIFY, ["h1"], _report(), RunStatus.SUCCESSFUL)["h1"]
    assert result.ok and result.outcome == HostOutcome.OK and result.failed_task is None
