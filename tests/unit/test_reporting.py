"""Report building and rendering on a real state store and audit log (tests/fixtures/report_store.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import pytest
import xmlschema

from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState
from otorchestrator.reporting import write_run_reports
from otorchestrator.reporting.build import build_compliance_report, build_run_report
from otorchestrator.reporting.compliance_models import FlagLevel, PatchStatus
from otorchestrator.reporting.models import RunReport
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.render import (
    junit_schema_path,
    render_compliance_html,
    render_compliance_markdown,
    render_run_html,
    render_run_junit,
    render_run_markdown,
)
from otorchestrator.reporting.sources import load_compliance_sources, load_run_sources


def _fixture_module() -> ModuleType:
    path = Path(__file__).parents[1] / "fixtures" / "report_store.py"
    spec = importlib.util.spec_from_file_location("report_store", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_store"] = module
    spec.loader.exec_module(module)
    return module


fx = _fixture_module()


@pytest.fixture(scope="module")
def run_fixture(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return fx.make_run_store(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def report(run_fixture) -> RunReport:  # type: ignore[no-untyped-def]
    sources = load_run_sources(run_fixture.paths, run_fixture.run_id)
    return build_run_report(sources, run_fixture.finished_at, ReportRedactor([fx.SECRET]))


def test_run_report_hosts_waves_and_durations(report: RunReport) -> None:
    assert report.run_id == fx.RUN_ID and report.status.value == "completed"
    assert [(w.index, w.name, w.hosts) for w in report.waves] == [
        (0, "canary", ("nw-hmi-02",)),
        (1, "wave-1", ("nw-gw-01", "nw-hist-01", "nw-hmi-01")),
    ]
    assert report.waves[0].started_at is not None and report.waves[0].duration_s
    states = {h.host: h.state for h in report.hosts}
    assert states == {
        "nw-hmi-02": HostState.SUCCEEDED,
        "nw-hmi-01": HostState.SUCCEEDED,
        "nw-gw-01": HostState.ROLLED_BACK,
        "nw-hist-01": HostState.BLOCKED,
    }
    gw = next(h for h in report.hosts if h.host == "nw-gw-01")
    assert gw.phase_seconds(Phase.VERIFY) == pytest.approx(31.0)
    assert gw.phase_seconds(Phase.ROLLBACK) == pytest.approx(14.2)
    assert gw.total_s == pytest.approx(5.0 + 3.9 + 10.0 + 31.0 + 14.2)
    assert report.state_counts == {"blocked": 1, "rolled_back": 1, "succeeded": 2}


def test_failures_name_the_failing_check_with_a_redacted_excerpt(report: RunReport) -> None:
    by_host = {f.host: f for f in (*report.failures, *report.refusals)}
    assert {f.host for f in report.failures} == {"nw-gw-01"}  # blocked (refused, unchanged) is no failure
    assert {f.host for f in report.refusals} == {"nw-hist-01"}
    gw = by_host["nw-gw-01"]
    assert gw.phase is Phase.VERIFY
    assert [c.name for c in gw.checks] == ["service_running:nwc-gateway"]
    assert "bind failed" in gw.excerpt and "traceback line 1" in gw.excerpt
    assert by_host["nw-hist-01"].checks[0].detail == "1 MiB free on /opt/nwc, 20 MiB needed"


def test_rollbacks_and_audit_head(report: RunReport, run_fixture) -> None:  # type: ignore[no-untyped-def]
    (rb,) = report.rollbacks
    assert rb.host == "nw-gw-01" and rb.from_state is HostState.VERIFYING and rb.ok
    assert rb.duration_s == pytest.approx(14.2)
    assert "service_running:nwc-gateway" in rb.reason
    assert report.audit.verified is True
    assert report.audit.head_hash == report.audit.store_head_hash
    assert report.audit.head_hash and report.audit.head_hash.startswith("jcs-sha256:")


@pytest.mark.parametrize("render", [render_run_html, render_run_markdown, render_run_junit])
def test_no_secret_in_any_rendering(report: RunReport, render) -> None:  # type: ignore[no-untyped-def]
    text = render(report)
    assert "hunter2" not in text and fx.SECRET not in text
    assert "REDACTED" in text
    assert fx.SECRET not in report.model_dump_json()


def test_html_is_self_contained(report: RunReport) -> None:
    html = render_run_html(report)
    assert "<style>" in html
    for external in ("<link", "<script", "src=", "http://", "https://", "@import", "url("):
        assert external not in html, external
    for expected in (
        "Wave timeline",
        "nw-gw-01",
        "service_running:nwc-gateway",
        "Rollbacks",
        "chain intact",
        report.audit.head_hash,
    ):
        assert expected in html


def test_markdown_holds_the_tables(report: RunReport) -> None:
    md = render_run_markdown(report)
    assert md.startswith(f"# Run report `{fx.RUN_ID}`: completed")
    assert "| nw-gw-01 | 1 | rolled_back |" in md
    assert "failing check `service_running:nwc-gateway`" in md


def test_junit_validates_against_the_schema(report: RunReport) -> None:
    xml = render_run_junit(report)
    schema = xmlschema.XMLSchema(junit_schema_path())
    schema.validate(xml)
    root = ET.fromstring(xml)
    cases = root.findall(".//testcase")
    # one case per host and phase: 4 + 4 + 5 + 1
    assert len(cases) == 14
    assert root.get("tests") == "14" and root.get("failures") == "1" and root.get("errors") == "0"
    names = {(c.get("classname", "").rsplit(".", 1)[-1], c.get("name")) for c in cases}
    assert ("nw-gw-01", "rollback") in names and ("nw-hist-01", "diagnostics") in names
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("classname", "").rsplit(".", 1)[-1] for c in failed} == {"nw-gw-01"}
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [(c.get("classname", "").rsplit(".", 1)[-1], c.get("name")) for c in skipped] == [
        ("nw-hist-01", "diagnostics")
    ]


def test_junit_with_a_skipped_host_validates(report: RunReport) -> None:
    hosts = list(report.hosts)
    skipped = hosts[0].model_copy(
        update={"host": "nw-skip", "state": HostState.SKIPPED, "phases": (), "detail": "outside window <now>"}
    )
    bigger = report.model_copy(update={"hosts": (*hosts, skipped)})
    xml = render_run_junit(bigger)
    xmlschema.XMLSchema(junit_schema_path()).validate(xml)
    assert '<skipped message="skipped: outside window &lt;now&gt;"/>' in xml


def test_write_run_reports_writes_every_format(run_fixture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = write_run_reports(run_fixture.paths, run_fixture.run_id, tmp_path / "out", run_fixture.finished_at)
    assert set(out) == {"html", "md", "json", "junit"}
    assert out["junit"].name == f"run-{fx.RUN_ID}.junit.xml"
    data = json.loads(out["json"].read_text())
    assert data["run_id"] == fx.RUN_ID and len(data["hosts"]) == 4
    assert "hunter2" not in out["json"].read_text()


# -- compliance --------------------------------------------------------------------------------------


def _compliance(run_fixture, evaluated_days_ago: int, exemption_in_days: int):  # type: ignore[no-untyped-def]
    now = run_fixture.finished_at + timedelta(days=2)
    plan = fx.plan(now - timedelta(days=evaluated_days_ago), now + timedelta(days=exemption_in_days))
    with fx.StateStore(run_fixture.paths.db) as store:
        store.save_baseline(
            "nw-hmi-02", {"values": {"packages": {"nwc-hmi-runtime": "1.1.0"}}}, at=now - timedelta(days=50)
        )
        store.save_baseline(
            "nw-hmi-01", {"values": {"packages": {"nwc-hmi-runtime": "1.0.0"}}}, at=now - timedelta(days=3)
        )
    sources = load_compliance_sources(run_fixture.paths, plan, [a.name for a in plan.assets])
    return build_compliance_report(plan.assets, sources, now)


def _codes(report, asset: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.code for a in report.assets if a.asset == asset for f in a.flags}


def test_compliance_35_day_rules_when_overdue(run_fixture) -> None:  # type: ignore[no-untyped-def]
    report = _compliance(run_fixture, evaluated_days_ago=40, exemption_in_days=-1)
    by = {a.asset: a for a in report.assets}
    assert by["nw-hmi-02"].days_since_evaluation == 40
    assert {"EVALUATION_OVERDUE", "BASELINE_STALE"} <= _codes(report, "nw-hmi-02")
    # installed in the run: no R2.3 flag for it
    assert by["nw-hmi-02"].patches[0].status is PatchStatus.INSTALLED
    assert by["nw-hmi-02"].patches[0].installed and by["nw-hmi-02"].patches[0].installed.operator == "alice"
    # rolled back gateway: attempted, rolled back, past evaluation + 35 days without a mitigation plan
    gw = by["nw-gw-01"].patches[0]
    assert gw.status is PatchStatus.ROLLED_BACK and gw.days_left is not None and gw.days_left < 0
    assert {"DEADLINE_PASSED", "ATTEMPT_ROLLED_BACK"} <= _codes(report, "nw-gw-01")
    # exempt with an expired exemption
    ews = by["nw-ews-01"].patches[0]
    assert ews.status is PatchStatus.EXEMPT and ews.exemption and ews.exemption.expired
    assert ews.exemption.compensating_controls == ("application allow-listing", "no remote access to the EWS")
    assert "MITIGATION_PLAN_EXPIRED" in _codes(report, "nw-ews-01")
    assert not any(a.compliant for a in report.assets)


def test_compliance_clean_within_35_days(run_fixture) -> None:  # type: ignore[no-untyped-def]
    report = _compliance(run_fixture, evaluated_days_ago=10, exemption_in_days=60)
    assert _codes(report, "nw-hmi-01") == set()
    # rolled back in the run: a warning naming the run; the clock runs (25 days left): no violation yet
    assert _codes(report, "nw-gw-01") == {"NO_BASELINE", "ATTEMPT_ROLLED_BACK", "CLOCK_RUNNING"}
    gw = next(a for a in report.assets if a.asset == "nw-gw-01")
    assert gw.patches[0].due is not None and gw.compliant and gw.patches[0].clock_running
    attempt = next(f for f in gw.flags if f.code == "ATTEMPT_ROLLED_BACK")
    assert f"run {fx.RUN_ID}, wave 1 (wave-1)" in attempt.message
    assert "verify failed: service nwc-gateway stopped, expected running" in attempt.message
    # the rollback with its proof, not only "rolled back to the backup"
    assert (
        "rolled back to backup bk-gw (archive verified against its manifest; nwc-gateway 1.0.0 (ii); "
        "port 9104" in attempt.message
    )
    assert [(t.kind, t.run_id) for t in gw.rollback_tests] == [("rollback", fx.RUN_ID)]
    assert _codes(report, "nw-ews-01") == {"NO_BASELINE", "MITIGATION_PLAN"}
    assert report.summary()["violations"] == 0 and report.summary()["clocks_running"] == 2


def test_compliance_due_soon_warnings(run_fixture) -> None:  # type: ignore[no-untyped-def]
    report = _compliance(run_fixture, evaluated_days_ago=31, exemption_in_days=3)
    assert {"EVALUATION_DUE_SOON", "DUE_SOON"} <= _codes(report, "nw-gw-01")
    assert "MITIGATION_PLAN_EXPIRES_SOON" in _codes(report, "nw-ews-01")
    assert all(f.level is FlagLevel.WARNING for a in report.assets for f in a.flags)


def test_cve_evidence_chain(run_fixture) -> None:  # type: ignore[no-untyped-def]
    report = _compliance(run_fixture, evaluated_days_ago=10, exemption_in_days=60)
    by_cve = {e.cve: e for e in report.evidence}
    hmi = by_cve["CVE-2026-10103"]
    assert hmi.in_kev and hmi.cvss_max == 8.1
    step = next(s for s in hmi.steps if s.asset == "nw-hmi-02")
    assert step.wave == f"run {fx.RUN_ID}, wave 0 (canary)"
    assert step.verified is True and step.installed
    assert step.rollback_tested is True and step.rollback_evidence and "DRILL-1" in step.rollback_evidence
    gw = by_cve["CVE-2026-10104"].steps[0]
    assert gw.verified is False and gw.verification and "service_running:nwc-gateway" in gw.verification
    assert gw.rollback_tested is None
    assert gw.rollback and gw.rollback.startswith(f"rolled back in run {fx.RUN_ID}")
    assert gw.install and "nwc-gateway 1.1.0 attempted" in gw.install
    assert gw.state_now.startswith("rolled back: not in effect")
    assert by_cve["CVE-2026-10105"].steps[0].wave is None


def test_compliance_renderings(run_fixture) -> None:  # type: ignore[no-untyped-def]
    report = _compliance(run_fixture, evaluated_days_ago=40, exemption_in_days=-1)
    html = render_compliance_html(report)
    md = render_compliance_markdown(report)
    for text in (html, md):
        assert "MITIGATION_PLAN_EXPIRED" in text and "application allow-listing" in text
        assert "CVE-2026-10103" in text and "DRILL-1" in text
    assert "<script" not in html and "http" not in html


def _check_mode_run(run_fixture) -> None:  # type: ignore[no-untyped-def]
    """A later `otorch run --check` of the same wave plan whose verify of the gateway passed (nothing was
    installed: a dry run proves nothing)."""
    from otorchestrator.models.results import PhaseResult
    from otorchestrator.models.run import RunRecord

    start = run_fixture.finished_at + timedelta(hours=3)
    with fx.StateStore(run_fixture.paths.db) as store:
        store.create_run(
            RunRecord(
                run_id="R-CHECK",
                operator="alice",
                waveplan_hash="sha256:x",
                plan_hash="sha256:plan",
                started_at=start,
                check_mode=True,
                waveplan_path=str(run_fixture.waveplan_path),
            )
        )
        ok = PhaseResult.model_validate({"phase": Phase.VERIFY, "host": "nw-gw-01", "ok": True})
        store.record_phase_result("R-CHECK", 1, ok, start, start + timedelta(seconds=5))


def test_check_mode_runs_are_no_verification_evidence(tmp_path: Path) -> None:
    run_fixture = fx.make_run_store(tmp_path)
    _check_mode_run(run_fixture)
    report = _compliance(run_fixture, evaluated_days_ago=10, exemption_in_days=60)
    gw = next(e for e in report.evidence if e.cve == "CVE-2026-10104").steps[0]
    # the real run's failed verification stands; the check-mode run is not cited
    assert gw.wave == f"run {fx.RUN_ID}, wave 1 (wave-1)" and gw.verified is False
    assert "R-CHECK" not in render_compliance_markdown(report)


def _tamper_first_transition(audit: Path) -> int:
    """Rewrite the detail of one record in place (canonical JSON kept): its hash no longer matches."""
    lines = audit.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if '"kind":"transition"' in line)
    data = json.loads(lines[index])
    data["detail"] = {"detail": "edited after the fact"}
    lines[index] = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    audit.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def test_drill_evidence_from_a_broken_audit_chain_is_unverified(tmp_path: Path) -> None:
    run_fixture = fx.make_run_store(tmp_path)
    intact = _compliance(run_fixture, evaluated_days_ago=10, exemption_in_days=60)
    assert intact.audit_verified is True and intact.audit_problems == ()
    line = _tamper_first_transition(run_fixture.paths.audit)
    report = _compliance(run_fixture, evaluated_days_ago=10, exemption_in_days=60)
    assert report.audit_verified is False and report.audit_problems
    step = next(s for s in next(e for e in report.evidence if e.cve == "CVE-2026-10103").steps
                if s.asset == "nw-hmi-02")  # fmt: skip
    assert step.rollback_tested is None and step.rollback_verified is False
    assert step.rollback_evidence and step.rollback_evidence.startswith(
        f"unverified: audit chain broken at line {line} (hash_mismatch"
    )
    assert "DRILL-1" in step.rollback_evidence  # what the log claims is still shown
    html, md = render_compliance_html(report), render_compliance_markdown(report)
    for text in (html, md):
        assert "unverified: audit chain broken at line" in text and "hash_mismatch" in text
    assert 'id="audit-chain"><span class="badge violation">broken' in html
    assert any("audit chain does not verify" in n for n in report.notes)


# -- otorch records ----------------------------------------------------------------------------------


def _records_cli(state: Path, *args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from otorchestrator.cli.records import records

    return CliRunner().invoke(records, ["--state-dir", str(state), *args])


def test_records_per_asset_baseline_age_and_history(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    run_fixture = fx.make_run_store(tmp_path)
    scanned = datetime.now(UTC) - timedelta(days=4, hours=1)
    scan = {"values": {"packages": {"nwc-hmi-runtime": "1.1.0"}, "ports": [{"proto": "tcp", "port": 9103}]}}
    with fx.StateStore(run_fixture.paths.db) as store:
        store.save_baseline("nw-hmi-02", scan, at=scanned, run_id="scan")
    state = run_fixture.paths.root
    text = _records_cli(state)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[lines.index(next(x for x in lines if x.startswith("nw-hmi-02:")))].startswith(
        f"nw-hmi-02: baseline {scanned:%Y-%m-%d %H:%M} UTC (4 days old, scan): 1 packages"
    )
    assert f"NWC-P-HMI  nwc-hmi-runtime 1.0.0 -> 1.1.0  run {fx.RUN_ID} by alice" in text.output
    # every host of the run is listed, with or without records
    assert (
        "nw-gw-01: no baseline recorded" in text.output and "nw-hist-01: no baseline recorded" in text.output
    )

    one = _records_cli(state, "--host", "nw-hmi-02", "--json")
    assert one.exit_code == 0, one.output
    (data,) = json.loads(one.output)
    assert data["asset"] == "nw-hmi-02" and data["baseline"]["age_days"] == 4
    assert data["baseline"]["packages"] == {"nwc-hmi-runtime": "1.1.0"}
    (entry,) = data["history"]
    assert (entry["run_id"], entry["operator"], entry["from_version"], entry["to_version"]) == (
        fx.RUN_ID,
        "alice",
        "1.0.0",
        "1.1.0",
    )
    assert entry["rolled_back"] is False and entry["at"]


def test_records_mark_a_rolled_back_install(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from otorchestrator.models.run import InstalledPatchRecord
    from otorchestrator.reporting.records import build_asset_records

    at = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    kept = InstalledPatchRecord(
        asset="h", patch_id="P1", package="p", from_version="1.0", to_version="1.1", run_id="R1",
        operator="alice", at=at,
    )  # fmt: skip
    undone = kept.model_copy(update={"patch_id": "P2", "run_id": "R2", "at": at + timedelta(days=1)})
    (rec,) = build_asset_records(["h"], {}, [kept], [(undone, "R2", at + timedelta(days=1, hours=1))], at)
    assert [(h.patch_id, h.rolled_back, h.rolled_back_by_run) for h in rec.history] == [
        ("P1", False, None),
        ("P2", True, "R2"),
    ]
    assert [h.patch_id for h in rec.effective] == ["P1"]
    # through the store, when it records the rollback marker
    run_fixture = fx.make_run_store(tmp_path)
    with fx.StateStore(run_fixture.paths.db) as store:
        if not hasattr(store, "reverse_installed_patches"):
            return
        store.reverse_installed_patches("nw-hmi-01", fx.RUN_ID, "R-UNDO", "bob", at + timedelta(days=2))
    out = _records_cli(run_fixture.paths.root, "--host", "nw-hmi-01").output
    assert "ROLLED BACK by run R-UNDO at 2026-03-03 02:00 UTC" in out, out


def test_records_with_a_plan_list_exemptions(run_fixture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(fx.plan(now, now + timedelta(days=30)).model_dump_json(), encoding="utf-8")
    out = _records_cli(run_fixture.paths.root, "--host", "nw-ews-01", "--plan", str(plan_path))
    assert out.exit_code == 0, out.output
    assert "exempt NWC-P-EWS: EX-7 approved by carol (plant security), expires" in out.output
    assert "application allow-listing" in out.output


def test_cli_compliance_warns_of_a_broken_audit_chain(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from otorchestrator.cli.report import report

    run_fixture = fx.make_run_store(tmp_path)
    now = run_fixture.finished_at
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(fx.plan(now, now + timedelta(days=30)).model_dump_json(), encoding="utf-8")
    args = ["compliance", "--plan", str(plan_path), "--state-dir", str(run_fixture.paths.root)]
    clean = CliRunner().invoke(report, [*args, "--md", str(tmp_path / "a.md"), "--as-of", "2026-03-02"])
    assert clean.exit_code == 0 and "audit chain" not in clean.output, clean.output
    _tamper_first_transition(run_fixture.paths.audit)
    broken = CliRunner().invoke(report, [*args, "--md", str(tmp_path / "b.md"), "--as-of", "2026-03-02"])
    assert broken.exit_code == 0, broken.output
    assert "warning: the audit chain does not verify: drill evidence is marked unverified" in broken.output
    assert "unverified: audit chain broken at line" in (tmp_path / "b.md").read_text(encoding="utf-8")


def test_kev_clock_from_the_policy_is_a_violation_once_past(run_fixture) -> None:  # type: ignore[no-untyped-def]
    """The demo's situation: a KEV-listed patch attempted, failed verification, rolled back; the policy's
    KEV clock (7 days) ran out although the 35-day clock still runs."""
    from otorchestrator.models.policy import ComplianceDeadlines
    from otorchestrator.reporting.compliance import build_compliance_report as build

    now = run_fixture.finished_at + timedelta(days=2)
    plan = fx.plan(now - timedelta(days=10), now + timedelta(days=60))
    items = tuple(i.model_copy(update={"in_kev": i.asset == "nw-gw-01" or i.in_kev}) for i in plan.items)
    plan = plan.model_copy(update={"items": items})
    sources = load_compliance_sources(run_fixture.paths, plan, [a.name for a in plan.assets])
    sources = dataclasses.replace(sources, kev_due={"CVE-2026-10104": date(2026, 3, 20)})
    lax = build(plan.assets, sources, now)
    assert "DEADLINE_PASSED" not in _codes(lax, "nw-gw-01")
    strict = build(plan.assets, sources, now, deadlines=ComplianceDeadlines(kev_days=7))
    gw = next(a for a in strict.assets if a.asset == "nw-gw-01")
    (line,) = gw.patches
    assert line.status is PatchStatus.ROLLED_BACK and line.days_left == -3
    assert line.kev_due == date(2026, 3, 20) and line.due_rule.startswith("KEV-listed")
    passed = next(f for f in gw.flags if f.code == "DEADLINE_PASSED")
    assert passed.level is FlagLevel.VIOLATION and "KEV due date 2026-03-20" in passed.message
    assert not gw.compliant and strict.summary()["violations"] == 1
    # the KEV-listed canary host installed its patch: no clock runs for it
    assert not {"DEADLINE_PASSED", "CLOCK_RUNNING"} & _codes(strict, "nw-hmi-02")


def test_cli_report_cve_prints_the_chain(run_fixture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from otorchestrator.cli.report import report

    now = run_fixture.finished_at + timedelta(days=2)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(fx.plan(now - timedelta(days=10), now + timedelta(days=60)).model_dump_json())
    state = ["--state-dir", str(run_fixture.paths.root), "--plan", str(plan_file)]
    result = CliRunner().invoke(report, ["cve", "CVE-2026-10104", *state])
    assert result.exit_code == 0, result.output
    assert "nw-gw-01  NWC-P-GW  decision scheduled" in result.output
    assert f"rolled back in run {fx.RUN_ID}" in result.output
    assert "state now:" in result.output and "rolled back: not in effect" in result.output
    wrong = CliRunner().invoke(report, ["cve", "CVE-2026-10140", *state])
    assert wrong.exit_code == 1 and "CVE-2026-10104" in wrong.output and "did you mean" in wrong.output


def test_check_sentences_carry_their_values_once() -> None:
    from otorchestrator.models.results import Check
    from otorchestrator.reporting.text import check_sentence, join_reasons

    disk = Check(
        name="disk_free:/opt/nwc",
        ok=False,
        value=0,
        threshold=20,
        detail="MiB free on /opt/nwc (needs 20 MiB)",
    )
    assert check_sentence(disk) == "disk_free:/opt/nwc: 0 MiB free on /opt/nwc (needs 20 MiB)"
    svc = Check(name="service_running:nwc-gateway", ok=False, value="stopped", threshold="running")
    assert check_sentence(svc) == "service_running:nwc-gateway: stopped (expected running)"
    assert (
        join_reasons("diagnostics failed", "diagnostics failed: disk_free") == "diagnostics failed: disk_free"
    )


def test_records_list_every_attempt(run_fixture) -> None:  # type: ignore[no-untyped-def]
    from otorchestrator.reporting.attempts import AttemptOutcome
    from otorchestrator.reporting.records import attempt_line, load_asset_records

    found = load_asset_records(
        run_fixture.paths, run_fixture.finished_at, ["nw-gw-01", "nw-hist-01", "nw-hmi-02"]
    )
    by = {r.asset: r for r in found}
    (gw,) = by["nw-gw-01"].attempts
    assert gw.outcome is AttemptOutcome.ROLLED_BACK and gw.run_id == fx.RUN_ID and gw.wave == 1
    assert gw.versions_attempted == {"nwc-gateway": "1.1.0"} and "backup bk-gw" in gw.evidence
    line = attempt_line(gw)
    assert "hunter2" not in line
    assert "ROLLED_BACK" in line and "nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0" in line
    assert "1.0.0 -> 1.0.0" not in line  # the attempted version is never hidden
    (hist,) = by["nw-hist-01"].attempts
    assert hist.outcome is AttemptOutcome.BLOCKED
    assert hist.reason == "diagnostics failed: 1 MiB free on /opt/nwc, needs 20 MiB"
    (hmi,) = by["nw-hmi-02"].attempts
    assert hmi.outcome is AttemptOutcome.INSTALLED and any(e.startswith("install #") for e in hmi.evidence)


def test_host_phase_times_come_from_the_hosts_own_events(run_fixture) -> None:  # type: ignore[no-untyped-def]
    """Two hosts in one phase call: each host's phase ends at its own last task event, and the JUnit
    suite of a wave takes the wave's time, not the sum of its hosts' phases."""
    sources = load_run_sources(run_fixture.paths, fx.RUN_ID)
    gw = next(
        r for r in sources.phase_results if r.result.host == "nw-gw-01" and r.result.phase is Phase.VERIFY
    )
    own = gw.started_at + timedelta(seconds=2)
    with fx.StateStore(run_fixture.paths.db) as store:
        store.record_task_event(
            fx.RUN_ID, 1, "nw-gw-01", Phase.VERIFY, "Check the service", "failed", False, own
        )
    report = build_run_report(load_run_sources(run_fixture.paths, fx.RUN_ID), run_fixture.finished_at)
    host = next(h for h in report.hosts if h.host == "nw-gw-01")
    assert host.phase_seconds(Phase.VERIFY) == pytest.approx(2.0)  # not the 31 s of the record
    root = ET.fromstring(render_run_junit(report))
    suites = {s.get("name", "").rsplit(" ", 1)[-1]: s for s in root.findall("testsuite")}
    wave1 = next(w for w in report.waves if w.index == 1)
    assert float(suites["wave-1"].get("time", "0")) == pytest.approx(wave1.duration_s or 0, abs=0.001)


def test_run_report_lists_held_exempt_and_blocked_assets(run_fixture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from otorchestrator.models.waves import Exclusion, Hold, Rule

    wp = fx.WavePlan.model_validate_json(run_fixture.waveplan_path.read_text())
    wp = wp.model_copy(
        update={
            "holds": (
                Hold(
                    asset="nw-scada-a",
                    patch_ids=("NWC-P-S",),
                    rule=Rule.APPROVAL,
                    reason="criticality high: needs a recorded approval",
                    release="an approval",
                ),
            ),
            "exclusions": (
                Exclusion(
                    asset="nw-ews-01", patch_id="NWC-P-EWS", rule=Rule.DECISION, reason="exempt by EX-7"
                ),
            ),
        }
    )
    other = tmp_path / "waves-held.json"
    other.write_text(wp.model_dump_json())
    report = build_run_report(
        load_run_sources(run_fixture.paths, fx.RUN_ID, waveplan_path=other), run_fixture.finished_at
    )
    by = {o.host: o for o in report.outside}
    assert by["nw-scada-a"].placement == "held" and "needs a recorded approval" in by["nw-scada-a"].reason
    assert by["nw-ews-01"].placement == "exempt"
    md = render_run_markdown(report)
    assert "| nw-scada-a | held | NWC-P-S |" in md and "| nw-ews-01 | exempt | NWC-P-EWS |" in md
    assert 'data-host="nw-ews-01"' in render_run_html(report)
