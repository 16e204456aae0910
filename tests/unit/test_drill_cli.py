"""The rollback drill's sequence, verdicts and records, driven through a fake Backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_backend import fake_inventory

from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest, RunStatus, TaskEvent
from otorchestrator.execution.drill import Drill
from otorchestrator.execution.drill_models import DRILL_RESULT, DrillRefused, DrillSpec, select_drill_hosts
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.asset import Asset, Criticality, InstalledProduct, Role
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Approval
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.run import RunStatus as StoreRunStatus
from otorchestrator.planning.drift import DriftKind
from otorchestrator.reporting.build import build_run_report
from otorchestrator.reporting.sources import load_run_sources
from otorchestrator.store.audit import AuditLog, read_events, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore

PATCH = Patch(
    id="NWC-P-DRILL",
    vendor="Northwind Controls",
    product="NWC Drill Agent",
    package="nwc-drill-agent",
    fixed_version="1.1.0",
    target_version="1.1.0",
    config_files=("/etc/nwc/nwc-drill-agent.conf",),
)


def asset(
    name: str, *, safety: bool = False, with_agent: bool = True, groups: tuple[str, ...] = ("drill",)
) -> Asset:
    products = (
        (
            InstalledProduct(
                vendor="Northwind Controls",
                product="NWC Drill Agent",
                version="1.0.0",
                package="nwc-drill-agent",
            ),
        )
        if with_agent
        else ()
    )
    return Asset(
        name=name,
        site="s",
        zone="z",
        purdue_level=2,
        role=Role.HMI,
        criticality=Criticality.LOW,
        safety_system=safety,
        installed_products=products,
        groups=groups,
    )


class FakeHosts:
    """Hosts as dicts; install bumps the version, rollback restores it (and leaves port 9199 when told)."""

    def __init__(self, leave_port: set[str] | None = None, verify_fails: set[str] | None = None) -> None:
        self.leave_port = leave_port or set()
        self.verify_fails = verify_fails or set()
        self.state: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.requests: list[PhaseRequest] = []  # every request, as the engine handed it over

    def _host(self, host: str) -> dict[str, Any]:
        return self.state.setdefault(host, {"version": "1.0.0", "ports": {22, 9106}})

    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome:
        self.requests.append(request)
        results = {}
        for host in request.hosts:
            self.calls.append((host, request.phase.value))
            h = self._host(host)
            ok, values = True, {}
            if request.phase is Phase.INSTALL:
                h["version"] = "1.1.0"
                if host in self.leave_port:
                    h["ports"] = h["ports"] | {9199}
            elif request.phase is Phase.ROLLBACK:
                h["version"] = "1.0.0"
                ok = 9199 not in h["ports"]  # the role's no_new_listeners check
            elif request.phase is Phase.VERIFY:
                ok = host not in self.verify_fails
            elif request.phase is Phase.SCAN:
                values = {
                    "packages": {"nwc-drill-agent": h["version"]},
                    "services": {"nwc-drill-agent": "running"},
                    "listening": [f"tcp 0.0.0.0:{p}" for p in sorted(h["ports"])],
                    "config_sha256": {"/etc/nwc/nwc-drill-agent.conf": "a" * 64},
                }
            checks = [] if ok else [{"name": "no_new_listeners", "ok": False, "detail": "9199 listens"}]
            results[host] = PhaseResult.model_validate(
                {
                    "phase": request.phase,
                    "host": host,
                    "ok": ok,
                    "values": values,
                    "checks": checks,
                    "backup_id": "bk-1" if request.phase is Phase.BACKUP else None,
                }
            )
        return PhaseOutcome(phase=request.phase, status=RunStatus.SUCCESSFUL, rc=0, results=results)

    def end_orphans(self, run_id: str, grace_s: float = 30.0, notify: Any = None) -> list[str]:
        self.calls.append((run_id, "end_orphans"))
        return []


@pytest.fixture
def env(tmp_path: Path) -> tuple[StatePaths, StateStore, AuditLog, FakeClock]:
    paths = StatePaths(tmp_path / "state").ensure()
    store = StateStore(paths.db)
    return paths, store, AuditLog(paths.audit, head_store=store), FakeClock()


def spec(assets: list[Asset], approvals: tuple[Approval, ...] = ()) -> DrillSpec:
    return DrillSpec(
        drill_id="DRILL-T1",
        group="drill",
        patch=PATCH,
        assets=tuple(assets),
        inventory=Path("inv"),
        operator="bob",
        hosts_inventory=fake_inventory,
        approvals=approvals,
    )


def test_select_drill_hosts_by_group_and_product() -> None:
    assets = [asset("a"), asset("b", with_agent=False), asset("c", groups=("other",))]
    hosts, skipped = select_drill_hosts(assets, "drill", PATCH)
    assert [h.name for h in hosts] == ["a"] and skipped == ["b"]
    assert [h.name for h in select_drill_hosts(assets, "c", PATCH)[0]] == ["c"]


def test_drill_restores_baseline_and_records_evidence(env) -> None:  # type: ignore[no-untyped-def]
    paths, store, audit, clock = env
    backend = FakeHosts()
    report = Drill(backend, store, audit, clock).run(spec([asset("h1"), asset("h2")]))
    assert report.passed
    phases = [p for h, p in backend.calls if h == "h1"]
    # forced rollback although verification passed
    assert phases == ["scan", "diagnostics", "backup", "install", "verify", "rollback", "scan"]
    h1 = report.hosts[0]
    assert h1.verification_ok is True and h1.rollback_ok and h1.differences == ()
    assert h1.final_state is HostState.ROLLED_BACK and h1.rollback_seconds is not None
    # host by host: h2 starts after h1 is done
    assert [h for h, _ in backend.calls] == ["h1"] * 7 + ["h2"] * 7
    assert store.get_run("DRILL-T1").status is StoreRunStatus.COMPLETED
    assert store.latest_baseline("h1") is not None
    evidence = [e for _, e in read_events(paths.audit) if e.kind == DRILL_RESULT]
    assert [(e.host, e.result, e.patch_id) for e in evidence] == [
        ("h1", "passed", "NWC-P-DRILL"),
        ("h2", "passed", "NWC-P-DRILL"),
    ]
    assert verify(paths.audit, store.audit_head()).ok
    run_report = build_run_report(load_run_sources(paths, "DRILL-T1"), clock.now())
    assert {r.host for r in run_report.rollbacks} == {"h1", "h2"}


def test_drill_that_cannot_restore_the_baseline_fails_with_the_differences(env) -> None:  # type: ignore[no-untyped-def]
    paths, store, audit, clock = env
    report = Drill(FakeHosts(leave_port={"h1"}), store, audit, clock).run(spec([asset("h1")]))
    assert not report.passed
    (h1,) = report.hosts
    assert h1.final_state is HostState.ROLLBACK_FAILED and h1.rollback_ok is False
    assert [(d.kind, d.subject, d.after) for d in h1.differences] == [
        (DriftKind.PORT, "tcp/9199", "listening")
    ]
    assert "1 difference(s)" in h1.message
    assert store.get_run("DRILL-T1").status is StoreRunStatus.FAILED
    (event,) = [e for _, e in read_events(paths.audit) if e.kind == DRILL_RESULT]
    assert event.result == "failed" and event.detail["differences"] == [
        "port tcp/9199: not listening -> listening"
    ]


def test_failed_verification_still_rolls_back(env) -> None:  # type: ignore[no-untyped-def]
    _, store, audit, clock = env
    backend = FakeHosts(verify_fails={"h1"})
    report = Drill(backend, store, audit, clock).run(spec([asset("h1")]))
    assert report.passed and report.hosts[0].verification_ok is False
    assert ("h1", "rollback") in backend.calls


def test_safety_system_refused_without_approval_and_nothing_touched(env) -> None:  # type: ignore[no-untyped-def]
    paths, store, audit, clock = env
    backend = FakeHosts()
    with pytest.raises(DrillRefused, match="nw-sis-01 is a safety-system asset"):
        Drill(backend, store, audit, clock).run(spec([asset("h1"), asset("nw-sis-01", safety=True)]))
    assert backend.calls == []
    assert [e.kind for _, e in read_events(paths.audit)] == ["drill_refused"]


def test_safety_approval_must_be_someone_elses_with_a_reason(env) -> None:  # type: ignore[no-untyped-def]
    _, store, audit, clock = env
    sis = [asset("h1"), asset("nw-sis-01", safety=True)]

    def approval(by: str, reason: str = "annual drill", kind: str = "drill") -> Approval:
        return Approval.model_construct(
            kind=kind, subject="nw-sis-01", approved_by=by, reason=reason, at=clock.now()
        )

    backend = FakeHosts()
    cases = {
        "is by the operator bob": approval(" BOB "),
        "names no approver": approval("  "),
        "gives no reason": approval("carol", reason=" "),
        "no approval is recorded for it": approval("carol", kind="unqualified_patch"),
    }
    for expected, given in cases.items():
        with pytest.raises(DrillRefused, match=expected) as refused:
            Drill(backend, store, audit, clock).run(spec(sis, (given,)))
        assert refused.value.hosts == ("nw-sis-01",)
    assert backend.calls == []
    # a valid approval beside an invalid one releases the host; only the valid one is recorded
    report = Drill(backend, store, audit, clock).run(spec(sis, (approval("bob"), approval("carol"))))
    assert report.passed and [a.approved_by for a in report.approvals] == ["carol"]


def test_safety_system_with_recorded_approval_is_drilled(env) -> None:  # type: ignore[no-untyped-def]
    paths, store, audit, clock = env
    approval = Approval(
        kind="drill", subject="nw-sis-01", approved_by="carol", reason="annual drill", at=clock.now()
    )
    report = Drill(FakeHosts(), store, audit, clock).run(spec([asset("nw-sis-01", safety=True)], (approval,)))
    assert report.passed
    approvals = [e for _, e in read_events(paths.audit) if e.kind == "approval_recorded"]
    assert approvals[0].host == "nw-sis-01" and approvals[0].detail["approved_by"] == "carol"


# -- the CLI -----------------------------------------------------------------------------------------

LAB = Path(__file__).parents[2] / "inventories" / "lab"


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: FakeHosts, *args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from otorchestrator.cli import drill as drill_cli

    monkeypatch.setattr(drill_cli, "make_backend", lambda paths: backend)
    base = [
        "--inventory",
        str(LAB),
        "--catalog",
        str(LAB / "catalog.yml"),
        "--patch",
        "NWC-P-2026-0106",
        "--operator",
        "bob",
        "--state-dir",
        str(tmp_path / "st"),
        "--drill-id",
        "D1",
    ]
    return CliRunner().invoke(drill_cli.drill, [*base, *args])


def test_cli_drill_failed_exit_3_lists_differences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(tmp_path, monkeypatch, FakeHosts(leave_port={"nw-hmi-02"}), "--group", "role_hmi")
    assert result.exit_code == ExitCode.HOSTS_FAILED, result.output
    assert "nw-hmi-02      FAILED" in result.output
    assert "port tcp/9199: not listening -> listening" in result.output
    assert "nw-hmi-01      not drilled" in result.output  # no drill agent there
    assert (tmp_path / "st" / "reports" / "run-D1.junit.xml").exists()
    assert (tmp_path / "st" / "reports" / "drill-D1.json").exists()


def test_cli_drill_refuses_safety_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FakeHosts()
    result = _cli(
        tmp_path, monkeypatch, backend, "--group", "nw-sis-01", "--catalog", str(LAB / "catalog.yml")
    )
    # nw-sis-01 has no drill agent: nothing applicable; name a patch it has
    assert result.exit_code != 0
    result = _cli(tmp_path, monkeypatch, backend, "--group", "safety_systems", "--patch", "NWC-P-2026-0103")
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "nw-sis-01 is a safety-system asset and no approval is recorded for it" in result.output
    assert "--approvals FILE" in result.output and backend.calls == []


def _approvals_file(tmp_path: Path, approved_by: str, subject: str = "nw-sis-01") -> Path:
    path = tmp_path / f"approvals-{approved_by.split()[0]}-{subject}.yml"
    path.write_text(
        "approvals:\n"
        f"  - {{kind: drill, subject: {subject}, approved_by: {approved_by},\n"
        '     reason: annual proof test, at: "2026-03-01T08:00:00+00:00"}\n',
        encoding="utf-8",
    )
    return path


SIS = ("--group", "safety_systems", "--patch", "NWC-P-2026-0103")


def test_cli_drill_operator_cannot_approve_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeHosts()
    # the old self-approval flag is refused outright
    old = _cli(tmp_path, monkeypatch, backend, *SIS, "--approve-safety", "nw-sis-01:annual drill")
    assert old.exit_code == 2 and "cannot approve their own drill" in old.output, old.output
    # an approvals file whose approval is by the operator (bob) himself
    own = _cli(tmp_path, monkeypatch, backend, *SIS, "--approvals", str(_approvals_file(tmp_path, "Bob")))
    assert own.exit_code == ExitCode.REFUSED, own.output
    assert "nw-sis-01 is a safety-system asset and no valid approval" in own.output
    assert "is by the operator bob (an operator cannot approve their own drill)" in own.output
    # an approval for another host does not release this one
    other = _approvals_file(tmp_path, "carol", subject="nw-hmi-01")
    assert _cli(tmp_path, monkeypatch, backend, *SIS, "--approvals", str(other)).exit_code == ExitCode.REFUSED
    assert backend.calls == []
    refused = [e for _, e in read_events(tmp_path / "st" / "audit.jsonl") if e.kind == "drill_refused"]
    assert refused and "operator bob" in refused[-2].detail["missing"]["nw-sis-01"]


def test_cli_drill_with_a_recorded_approval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    approvals = _approvals_file(tmp_path, "carol (SIS engineer)")
    result = _cli(tmp_path, monkeypatch, FakeHosts(), *SIS, "--approvals", str(approvals))
    assert result.exit_code == 0, result.output
    assert "drill PASSED" in result.output
    (event,) = [e for _, e in read_events(tmp_path / "st" / "audit.jsonl") if e.kind == "approval_recorded"]
    assert event.host == "nw-sis-01" and event.detail["approved_by"] == "carol (SIS engineer)"
    assert event.detail["consulted"] == [f"approvals {approvals}"]


def test_cli_drill_takes_the_plans_approvals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from otorchestrator.models.plan import Plan

    def plan_with(approved_by: str) -> Path:
        approval = Approval(
            kind="asset",
            subject="nw-sis-01",
            approved_by=approved_by,
            reason="SIS proof test window",
            at=datetime(2026, 3, 1, tzinfo=UTC),
        )
        path = tmp_path / f"plan-{approved_by}.json"
        plan = Plan(
            created_at=datetime(2026, 3, 1, tzinfo=UTC),
            assets=(),
            patches=(),
            items=(),
            approvals=(approval,),
        ).sealed()
        path.write_text(plan.model_dump_json(), encoding="utf-8")
        return path

    own = _cli(tmp_path, monkeypatch, FakeHosts(), *SIS, "--plan", str(plan_with("bob")))
    assert own.exit_code == ExitCode.REFUSED and "is by the operator bob" in own.output, own.output
    ok = _cli(tmp_path, monkeypatch, FakeHosts(), *SIS, "--plan", str(plan_with("dave")), "--drill-id", "D3")
    assert ok.exit_code == 0 and "drill PASSED" in ok.output, ok.output


def test_drill_records_go_to_the_site_syslog_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like `otorch run`, a drill forwards every audit record it writes (the site audit config)."""
    from test_audit_forward import Collector

    collector = Collector()
    config = tmp_path / "audit.yml"
    config.write_text(f"schema_version: 1\nsyslog:\n  host: 127.0.0.1\n  port: {collector.port}\n")
    monkeypatch.setenv("OTORCH_AUDIT_CONFIG", str(config))
    try:
        result = _cli(tmp_path, monkeypatch, FakeHosts(), "--group", "nw-hmi-02")
        assert result.exit_code == ExitCode.OK, result.output
    finally:
        collector.stop()
    local = (tmp_path / "st" / "audit.jsonl").read_text().splitlines()
    from otorchestrator.forward.rfc5424 import record_of_line

    assert local and [record_of_line(f.decode()) for f in collector.frames] == local


def test_cli_drill_killed_mid_install_is_finished_with_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 while nw-hmi-02 installs: the same command is refused (it says --resume); with --resume the
    crashed drill's processes are ended first, the host is rolled back and compared, never installed again."""
    from fake_backend import SimulatedCrash

    class Killed(FakeHosts):
        def run_phase(self, request: PhaseRequest, on_event: Any = None, cancel: Any = None) -> PhaseOutcome:
            outcome = super().run_phase(request, on_event, cancel)
            if request.phase is Phase.INSTALL:
                raise SimulatedCrash("kill -9 during install")
            return outcome

    killed = Killed()
    with pytest.raises(SimulatedCrash):
        _cli(tmp_path, monkeypatch, killed, "--group", "nw-hmi-02")
    backend = FakeHosts()
    backend.state = killed.state  # the same host: 1.1.0 installed
    again = _cli(tmp_path, monkeypatch, backend, "--group", "nw-hmi-02")
    assert again.exit_code == ExitCode.REFUSED, again.output
    assert "--resume" in again.output and backend.calls == []
    resumed = _cli(tmp_path, monkeypatch, backend, "--group", "nw-hmi-02", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "nw-hmi-02      PASSED" in resumed.output and "after its install began" in resumed.output
    # orphans ended; a probe scan (the install's result was never recorded: it finds 1.1.0, so the install
    # ran and the drill proves something); the forced rollback; the scan compared with the baseline
    probe = [("nw-hmi-02", "scan"), ("nw-hmi-02", "rollback"), ("nw-hmi-02", "scan")]
    assert backend.calls == [("D1", "end_orphans"), *probe]
    assert backend.state["nw-hmi-02"]["version"] == "1.0.0"
    with StateStore(tmp_path / "st" / "state.db") as store:
        record = store.get_run("D1")
    assert record.status is StoreRunStatus.COMPLETED
    from otorchestrator.app.drills import resume_hint

    hint = resume_hint(record)  # what `otorch resume D1` says: a drill is finished by `otorch drill`
    assert hint is not None and "otorch drill --drill-id D1 --resume --patch NWC-P-2026-0106" in hint
    assert resume_hint(record.model_copy(update={"plan_hash": "sha256:" + "1" * 64})) is None
