"""The run report's evidence per host, over the report store fixture (tests/fixtures/report_store.py):
CVEs with their decision, versions attempted, blocked apart from failed, colours per host outcome, and the
evidence sections (diagnostics values, backup checksum, approvals, artifact re-check, verification checks,
rollback proof) in the model, HTML, Markdown, JSON and JUnit."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
import xmlschema

from otorchestrator.models.results import Check, Phase, PhaseResult
from otorchestrator.models.run import AuditEvent, HostState, HostStateRecord, PhaseResultRecord
from otorchestrator.reporting import host_evidence
from otorchestrator.reporting.build import build_run_report
from otorchestrator.reporting.checks import check_line, describe
from otorchestrator.reporting.models import EvidenceStatus, HostRow, RunReport
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.render import (
    OUTCOME_COLOURS,
    junit_schema_path,
    render_json,
    render_run_html,
    render_run_junit,
    render_run_markdown,
    wave_bars,
)
from otorchestrator.reporting.sources import load_run_sources


def _fixture_module() -> ModuleType:
    path = Path(__file__).parents[1] / "fixtures" / "report_store.py"
    spec = importlib.util.spec_from_file_location("report_store", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_store"] = module
    spec.loader.exec_module(module)
    return module


fx = _fixture_module()
REDACTOR = ReportRedactor([fx.SECRET])


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    root = tmp_path_factory.mktemp("evidence")
    run = fx.make_run_store(root)
    plan = fx.plan(fx.T0 - timedelta(days=1), fx.T0 + timedelta(days=30))
    plan_path = root / "plan.json"
    plan_path.write_text(plan.model_dump_json(), encoding="utf-8")
    sources = load_run_sources(run.paths, run.run_id, plan_path=plan_path)
    return build_run_report(sources, run.finished_at, REDACTOR)


def _host(report: RunReport, name: str) -> HostRow:
    return next(h for h in report.hosts if h.host == name)


def _text(page: str) -> str:
    """The visible text of a rendered HTML page (tags dropped, entities decoded, spaces collapsed)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# -- CVEs, versions, blocked apart from failed, colours ---------------------------------------------


def test_each_host_lists_its_cves_with_the_plans_decision_and_the_outcome(report: RunReport) -> None:
    (hmi,) = _host(report, "nw-hmi-02").cves
    assert (hmi.cve, hmi.patch_id, hmi.decision, hmi.in_kev, hmi.cvss_max) == (
        "CVE-2026-10103",
        "NWC-P-HMI",
        "out_of_cycle",
        True,
        8.1,
    )
    assert hmi.status == "fixed (installed and verified)"
    (gw,) = _host(report, "nw-gw-01").cves
    assert (gw.cve, gw.decision, gw.status) == (
        "CVE-2026-10104",
        "scheduled",
        "not fixed: attempted, rolled back",
    )
    (hist,) = _host(report, "nw-hist-01").cves
    assert hist.status == "not fixed: refused by diagnostics, nothing changed"
    md = render_run_markdown(report)
    assert "| nw-gw-01 | rolled_back | nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0 |" in md
    assert "CVE-2026-10103 (out_of_cycle, KEV): fixed (installed and verified)" in md
    page = render_run_html(report)
    assert page.count('data-cve="CVE-2026-10103"') == 2  # both HMIs
    junit = render_run_junit(report)
    assert "CVE CVE-2026-10104 (NWC-P-GW, decision scheduled): not fixed: attempted, rolled back" in junit


def test_a_rolled_back_host_shows_the_attempted_version(report: RunReport) -> None:
    (change,) = _host(report, "nw-gw-01").changes
    assert (change.before, change.attempted, change.after) == ("1.0.0", "1.1.0", "1.0.0")
    assert change.text == "nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0"
    assert _host(report, "nw-hmi-01").changes[0].text == "nwc-hmi-runtime 1.0.0 -> 1.1.0"
    assert _host(report, "nw-hist-01").changes[0].text == (
        "nwc-historian: 1.1.0 not installed (refused by diagnostics)"
    )
    for text in (render_run_markdown(report), _text(render_run_html(report)), render_run_junit(report)):
        assert "1.0.0 -> 1.0.0" not in text and "1.0.0 → 1.0.0" not in text
        assert "1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0" in html.unescape(text)


def test_a_blocked_host_is_not_counted_as_a_failure(report: RunReport) -> None:
    assert [f.host for f in report.failures] == ["nw-gw-01"]
    assert [(f.host, f.phase) for f in report.refusals] == [("nw-hist-01", Phase.DIAGNOSTICS)]
    page = render_run_html(report)
    assert 'id="failure-count">1<' in page and 'id="blocked-count">1<' in page
    refused = page.split('id="refused"', 1)[1].split('id="rollbacks"', 1)[0]
    assert "nw-hist-01" in refused and 'class="card refused"' in refused
    failures = page.split('id="failures"', 1)[1].split('id="refused"', 1)[0]
    assert "nw-hist-01" not in failures
    root = ET.fromstring(render_run_junit(report))
    assert root.get("failures") == "1"
    (case,) = [c for c in root.iter("testcase") if c.get("classname", "").endswith(".nw-hist-01")]
    skipped = case.find("skipped")
    assert skipped is not None and case.find("failure") is None
    assert (
        skipped.get("message")
        == "blocked by diagnostics, nothing installed: 1 MiB free on /opt/nwc, needs 20 MiB"
    )


def test_wave_bars_are_coloured_per_host_outcome(report: RunReport) -> None:
    bars = {b.label: b for b in wave_bars(report)}
    (canary,) = bars["canary"].segments
    assert (canary.state, canary.width, canary.colour) == ("succeeded", 100.0, OUTCOME_COLOURS["succeeded"])
    wave1 = [(s.state, s.width, s.colour) for s in bars["wave-1"].segments]
    assert wave1 == [
        ("succeeded", 33.33, "#2bb673"),
        ("rolled_back", 33.33, "#f0a202"),
        ("blocked", 33.33, "#a3458f"),
    ]
    assert OUTCOME_COLOURS["blocked"] != OUTCOME_COLOURS["failed"]
    page = render_run_html(report)
    assert page.count('class="seg ') == 4 and 'title="1 of 3 host(s) rolled back"' in page


# -- evidence sections ------------------------------------------------------------------------------


def test_diagnostics_sentences_carry_their_values() -> None:
    """The role reports the value apart from its detail ("MiB free on /opt/nwc (needs 20 MiB)"): the
    sentence says both, once."""
    check = Check(
        name="disk_free:/opt/nwc",
        ok=False,
        value=12,
        threshold=20,
        detail="MiB free on /opt/nwc (needs 20 MiB)",
    )
    assert describe(check) == "12 MiB free on /opt/nwc, needs 20 MiB"
    assert check_line(check) == "disk_free:/opt/nwc: 12 MiB free on /opt/nwc, needs 20 MiB"
    memory = Check(
        name="memory_available_mb", ok=True, value=812, threshold=256, detail="MemAvailable in MiB"
    )
    assert describe(memory) == "812 MiB memory available, needs 256 MiB"
    unknown = Check(name="site_check", ok=False, value="3", threshold="0", detail="3 alarms open")
    assert check_line(unknown) == "site_check: 3 alarms open (expected 0)"


def test_diagnostics_evidence_per_host(report: RunReport) -> None:
    hist = _host(report, "nw-hist-01").section("diagnostics")
    assert hist is not None and hist.status is EvidenceStatus.FAILED
    assert hist.summary == "refused the host before any change: 1 MiB free on /opt/nwc, needs 20 MiB"
    hmi = _host(report, "nw-hmi-01").section("diagnostics")
    assert hmi is not None and hmi.status is EvidenceStatus.PASSED
    assert [line.text for line in hmi.lines] == [
        "512 MiB free on /opt/nwc, needs 20 MiB",
        "812 MiB memory available, needs 256 MiB",
        "service nwc-hmi-runtime running",
        "no dpkg/apt lock held",
        "installed: nwc-hmi-runtime 1.0.0",
    ]


def test_backup_evidence_names_the_checksum_verified_on_the_controller(report: RunReport) -> None:
    gw = _host(report, "nw-gw-01").section("backup")
    assert gw is not None and gw.status is EvidenceStatus.PASSED
    sha = fx.ARCHIVE_SHA["nw-gw-01"]
    assert gw.summary == f"backup bk-gw: archive sha256 {sha} computed on the controller, equal to the host's"
    assert sha in render_run_html(report) and sha in render_run_markdown(report)
    # a backup result without the controller-side checksum is not taken on trust
    state = HostStateRecord(run_id="R", wave=0, host="h", state=HostState.SUCCEEDED, updated_at=fx.T0)
    bare = PhaseResult(phase=Phase.BACKUP, host="h", ok=True, backup_id="bk-1")
    record = PhaseResultRecord(run_id="R", wave=0, started_at=fx.T0, finished_at=fx.T0, result=bare)
    section = host_evidence.backup(state, [record], REDACTOR)
    assert section.status is EvidenceStatus.NOT_RECORDED
    assert section.summary == "backup bk-1: controller-side checksum not recorded"


def test_approvals_with_approver_and_time(report: RunReport) -> None:
    gw = _host(report, "nw-gw-01").section("approvals")
    assert gw is not None and gw.status is EvidenceStatus.PASSED
    assert gw.summary.startswith(
        "approved by bob (asset); signatures verified when the host was admitted at 2026-03-01"
    )
    plan_line, run_line = (line.text for line in gw.lines)
    assert plan_line == (
        "asset approval of nw-gw-01 by bob at 2026-02-28 23:00:00 UTC: KEV-listed gateway patch, out of cycle"
    )
    assert f"file {fx.APPROVAL_FILE} (sha256 {'5a' * 32}), valid until 2026-03-03T02:00:00+00:00" in run_line
    hmi1 = _host(report, "nw-hmi-01").section("approvals")
    assert hmi1 is not None and hmi1.status is EvidenceStatus.NOT_NEEDED
    assert hmi1.summary.startswith("no approval needed; admitted at 2026-03-01 02:00")
    hmi2 = _host(report, "nw-hmi-02").section("approvals")  # the run recorded no admission for it
    assert hmi2 is not None and hmi2.status is EvidenceStatus.NOT_RECORDED
    assert hmi2.summary == "none in the plan; run-time approval check: no audit record for this host"
    refused = AuditEvent(
        at=fx.T0,
        operator="o",
        kind="authority",
        host="h",
        result="refused",
        detail={"reason": "refused: expired"},
    )
    section = host_evidence.approvals(None, [refused], REDACTOR)
    assert section.status is EvidenceStatus.FAILED and section.summary.endswith("refused: expired")


def test_artifact_recheck_result_or_not_recorded(report: RunReport) -> None:
    gw = _host(report, "nw-gw-01").section("artifact")
    assert gw is not None and gw.status is EvidenceStatus.PASSED
    assert gw.summary.startswith("1 artifact(s) re-hashed at 2026-03-01 02:01")
    assert (
        gw.lines[0].text == f"NWC-P-GW: nwc-gateway_1.1.0_all.deb sha256 {'ab' * 32}, equal to the catalog's"
    )
    missing = _host(report, "nw-hmi-02").section("artifact")
    assert missing is not None and missing.status is EvidenceStatus.NOT_RECORDED
    bad = AuditEvent(
        at=fx.T0,
        operator="o",
        kind="artifact_recheck",
        host="h",
        result="refused",
        detail={
            "against": "waveplan",
            "patches": [
                {
                    "patch_id": "P",
                    "expected_sha256": "aa",
                    "actual_sha256": "bb",
                    "file": "p.deb",
                    "ok": False,
                },
                {"patch_id": "Q", "expected_sha256": "cc", "actual_sha256": None, "file": None, "ok": False},
            ],
            "reason": "artifact re-check: P differs",
        },
    )
    section = host_evidence.artifact([bad], [], REDACTOR)
    assert section.status is EvidenceStatus.FAILED
    assert [line.text for line in section.lines] == [
        "P: p.deb sha256 bb, the waveplan says aa",
        "Q: artifact not found (expected sha256 cc)",
    ]
    skipped = AuditEvent(
        at=fx.T0,
        operator="o",
        kind="safety_override",
        result="artifact_check_skipped",
        detail={"reason": "lab"},
    )
    assert host_evidence.artifact([], [skipped], REDACTOR).status is EvidenceStatus.SKIPPED


def test_verification_checks_per_host(report: RunReport) -> None:
    gw = _host(report, "nw-gw-01").section("verification")
    assert gw is not None and gw.status is EvidenceStatus.FAILED
    assert gw.summary == "service nwc-gateway stopped, expected running"
    ok = _host(report, "nw-hmi-01").section("verification")
    assert ok is not None and ok.summary == "4 checks, none failed"
    assert [line.text for line in ok.lines] == [
        "nwc-hmi-runtime 1.1.0 (ii)",
        "port 9103 listening",
        "service nwc-hmi-runtime running",
        "health command of nwc-hmi-runtime exit 0 (ok)",
    ]
    assert _host(report, "nw-hist-01").section("verification").status is EvidenceStatus.NOT_RUN  # type: ignore[union-attr]


def test_rollback_proof_compares_with_the_pre_patch_baseline(report: RunReport) -> None:
    gw = _host(report, "nw-gw-01")
    proof = gw.section("rollback")
    assert proof is not None and proof.status is EvidenceStatus.PASSED
    assert proof.summary == (
        "restored from backup bk-gw: archive verified against its manifest; nwc-gateway 1.0.0 (ii); "
        "port 9104 listening; service nwc-gateway running; health command of nwc-gateway exit 0; "
        "no new listening TCP port; 1 of 1 config file(s) sha256 equal to the pre-patch backup's"
    )
    details = [line.text for line in proof.details()]
    assert details == [
        f"backup archive sha256 {fx.ARCHIVE_SHA['nw-gw-01']} verified against its manifest before the "
        "restore",
        "config files extracted from the verified archive, as the manifest lists them",
        f"/etc/nwc/nwc-gateway.conf sha256 {fx.CONF_SHA}, equal to the pre-patch backup's",
        "health command of nwc-gateway exit 0 (ok)",
        "listening TCP ports 22, 9104, as before the patch",
        "no baseline scan recorded before the run",  # the fixture has none (see the test below)
    ]
    assert _host(report, "nw-hmi-01").section("rollback") is None  # never rolled back
    for rendered in (_text(render_run_html(report)), render_run_markdown(report), render_run_junit(report)):
        assert (
            "restored from backup bk-gw: archive verified against its manifest; nwc-gateway 1.0.0 (ii)"
            in rendered
        )
        assert f"sha256 {fx.CONF_SHA}, equal to the pre-patch backup" in rendered
    data = json.loads(render_json(report))
    gw_json = next(h for h in data["hosts"] if h["host"] == "nw-gw-01")
    kinds = [s["kind"] for s in gw_json["evidence"]]
    assert kinds == ["approvals", "diagnostics", "backup", "artifact", "verification", "rollback"]


def test_a_rollback_that_did_not_restore_the_baseline_says_what_differs() -> None:
    state = HostStateRecord(run_id="R", wave=0, host="h", state=HostState.ROLLBACK_FAILED, updated_at=fx.T0)
    result = PhaseResult.model_validate(
        {
            "phase": "rollback",
            "host": "h",
            "ok": False,
            "backup_id": "bk-9",
            "checks": [
                {"name": "version:pkg", "ok": True, "value": "1.0.0 (ii)", "threshold": "1.0.0 (ii)"},
                {"name": "config:/etc/p.conf", "ok": False, "value": "11", "threshold": "22", "detail": ""},
            ],
        }
    )
    record = PhaseResultRecord(run_id="R", wave=0, started_at=fx.T0, finished_at=fx.T0, result=result)
    section = host_evidence.rollback(state, [record], True, REDACTOR)
    assert section is not None and section.status is EvidenceStatus.FAILED
    assert section.summary == (
        "rollback from backup bk-9 did not restore the baseline: "
        "/etc/p.conf sha256 11, differs from the pre-patch backup's 22"
    )
    rolled_without_result = host_evidence.rollback(state, [], True, REDACTOR)
    assert rolled_without_result is not None and rolled_without_result.status is EvidenceStatus.NOT_RECORDED


def test_no_sentence_repeats_itself(report: RunReport) -> None:
    """No "diagnostics failed: diagnostics failed", no summary repeated in the lines below it, no label
    repeated by its value ("artifact re-check: not recorded" under "Artifact re-check (not recorded)")."""
    for host in report.hosts:
        for section in host.evidence:
            for line in section.details():
                assert line.text not in section.summary
            assert section.status.value.replace("_", " ") not in section.summary.split(":", 1)[0]
    texts = [render_run_markdown(report), _text(render_run_html(report)), render_run_junit(report)]
    repeat = re.compile(r"\b(\w[\w:/.-]*(?: [\w:/.-]+){0,3}) (?:failed)?:? \1 failed\b")
    for text in texts:
        assert "failed: diagnostics failed" not in text and "failed (failed)" not in text
        assert not repeat.search(text), repeat.search(text)


def test_the_junit_file_with_evidence_validates(report: RunReport) -> None:
    xml = render_run_junit(report)
    xmlschema.XMLSchema(junit_schema_path()).validate(xml)
    root = ET.fromstring(xml)
    outs = {
        (c.get("classname", "").rsplit(".", 1)[-1], c.get("name")): (c.findtext("system-out") or "")
        for c in root.iter("testcase")
    }
    assert "backup: passed: backup bk-gw: archive sha256" in outs[("nw-gw-01", "backup")]
    assert outs[("nw-gw-01", "rollback")].startswith("rollback: passed: restored from backup bk-gw")
    assert "512 MiB free on /opt/nwc, needs 20 MiB" in outs[("nw-hmi-01", "diagnostics")]
    assert "approvals: passed: approved by bob" in outs[("nw-gw-01", "diagnostics")]


# -- the CLI ------------------------------------------------------------------------------------------


def test_cli_report_run_json_prints_the_model_and_compliance_exits_violation(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from otorchestrator.cli.main import cli
    from otorchestrator.exitcodes import ExitCode

    run = fx.make_run_store(tmp_path)
    state = str(run.paths.root)
    result = CliRunner().invoke(
        cli, ["report", "run", run.run_id, "--json", "--out-dir", str(tmp_path / "out"), "--state-dir", state]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    gw = next(h for h in data["hosts"] if h["host"] == "nw-gw-01")
    assert gw["changes"][0]["text"] == "nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0"
    assert "1 blocked by diagnostics (unchanged)" in result.stderr
    assert (tmp_path / "out" / f"run-{run.run_id}.junit.xml").exists()
    plan = fx.plan(fx.T0 - timedelta(days=1), fx.T0 + timedelta(days=30))
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(plan.model_dump_json(), encoding="utf-8")
    args = ["report", "compliance", "--plan", str(plan_path), "--json", str(tmp_path / "c.json")]
    late = [*args, "--as-of", "2026-06-01", "--fail-on-violation", "--state-dir", state]
    failed = CliRunner().invoke(cli, late)
    assert failed.exit_code == ExitCode.VIOLATION, failed.output
    early = CliRunner().invoke(
        cli, [*args, "--as-of", "2026-03-02", "--fail-on-violation", "--state-dir", state]
    )
    assert early.exit_code == 0, early.output


def test_the_rollback_is_compared_with_the_baseline_scan_before_the_run(tmp_path: Path) -> None:
    """The restored config hash and ports against the host's last `otorch scan` before the run (a scan
    taken after the run is no pre-patch baseline and is not used)."""
    run = fx.make_run_store(tmp_path)
    conf = "/etc/nwc/nwc-gateway.conf"
    with fx.StateStore(run.paths.db) as store:
        scan = {"values": {"config_sha256": {conf: fx.CONF_SHA}, "listening_tcp_ports": [22, 9104]}}
        store.save_baseline("nw-gw-01", scan, at=fx.T0 - timedelta(days=1))
        later = {"values": {"config_sha256": {conf: "ff" * 32}, "listening_tcp_ports": [22]}}
        store.save_baseline("nw-gw-01", later, at=run.finished_at + timedelta(hours=1))
    report = build_run_report(load_run_sources(run.paths, run.run_id), run.finished_at, REDACTOR)
    proof = _host(report, "nw-gw-01").section("rollback")
    assert proof is not None
    lines = {line.name: line for line in proof.lines}
    assert lines[f"baseline:{conf}"].ok is True
    assert lines[f"baseline:{conf}"].text == (
        f"{conf} sha256 {fx.CONF_SHA}, equal to the baseline scan of 2026-02-28 02:00:00 UTC"
    )
    assert lines["baseline:ports"].text == (
        "every TCP port listening in the baseline scan of 2026-02-28 02:00:00 UTC listens again (22, 9104)"
    )
    # a restored file that differs from the scan is said so, with both hashes
    with fx.StateStore(run.paths.db) as store:
        other = {"values": {"config_sha256": {conf: "ee" * 32}, "listening_tcp_ports": [22, 9104, 9999]}}
        store.save_baseline("nw-gw-01", other, at=fx.T0 - timedelta(hours=1))
    report = build_run_report(load_run_sources(run.paths, run.run_id), run.finished_at, REDACTOR)
    lines = {line.name: line for line in _host(report, "nw-gw-01").section("rollback").lines}  # type: ignore[union-attr]
    assert lines[f"baseline:{conf}"].ok is False and f"({'ee' * 32})" in lines[f"baseline:{conf}"].text
    assert lines["baseline:ports"].text.endswith("but not now: 9999")
