"""`otorch demo`: the whole flow on the lab, start to finish, repeatable.

lab up + reset (clean baseline) -> scan (baselines) -> plan (lab advisories, KEV, catalog, exemptions)
-> waves (lab policy) -> run every wave (--yes, operator "demo") -> report. One host's patch breaks its
service and is rolled back automatically (nw-gw-01); one host fails diagnostics and is never touched
(nw-hist-01). The plan, the waves and the outputs land in a fresh directory out/demo-<timestamp>/; the
run itself goes to the default state directory ($OTORCH_STATE_DIR or ./.otorch, or --state-dir), so that
`otorch status`, `otorch report run` and `otorch audit verify` find it without options afterwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console

from otorchestrator.app import AppError, clock, planning, reports, runs, scans, staging
from otorchestrator.app.run_request import RunRequest
from otorchestrator.app.session import Caller
from otorchestrator.cli import demo_audit
from otorchestrator.cli import plan as plan_cli
from otorchestrator.cli import report as report_cli
from otorchestrator.cli import scan as scan_cli
from otorchestrator.cli import waves as waves_cli
from otorchestrator.cli._shared import app_errors, click_error, make_backend, warn
from otorchestrator.cli.progress import make_observer
from otorchestrator.cli.run import caller, render
from otorchestrator.exitcodes import ExitCode
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.models.run import HostState
from otorchestrator.store.audit import AuditVerification
from otorchestrator.store.audit import verify as verify_audit
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore
from otorchestrator.trust.lab import APPROVER, OPERATOR, PLANNER, lab_trust, sign_lab_approvals
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.trustfile import TRUST_ENV

EXPECTED = {  # what the demo shows, checked at the end
    "nw-gw-01": (HostState.ROLLED_BACK, "nwc-gateway 1.1.0 breaks its service: verify failed, rolled back"),
    "nw-hist-01": (HostState.BLOCKED, "nearly full disk: diagnostics failed, never installed"),
}


def _step(console: Console, text: str) -> None:
    console.rule(f"[bold]{text}")


def _check(outcome: runs.RunOutcome, console: Console, audit: AuditVerification) -> bool:
    """The demo's promise, checked: the two failure stories, every other host verified, the chain intact."""
    summary = outcome.summary
    states = {h.host: h for h in summary.hosts}
    ok = True
    for host, (expected, story) in EXPECTED.items():
        record = states.get(host)
        got = record.state if record else None
        mark = "[green]as expected[/green]" if got is expected else f"[red]expected {expected.value}[/red]"
        console.print(f"  {host}: {got.value if got else 'not in the run'} ({story}) {mark}")
        ok &= got is expected
    installs = [h for h in summary.hosts if h.host == "nw-hist-01" and h.install_attempts]
    if installs:
        console.print("  [red]nw-hist-01 reached install[/red]")
        ok = False
    others = [h for h in summary.hosts if h.host not in EXPECTED]
    failed = [h for h in others if h.state is not HostState.SUCCEEDED]
    if not others or failed:
        what = ", ".join(f"{h.host}: {h.state.value}" for h in failed) or "no other host ran"
        console.print(f"  [red]the other hosts should all succeed: {what}[/red]")
        ok = False
    else:
        console.print(f"  {len(others)} other host(s) succeeded (verified) [green]as expected[/green]")
    if audit.ok:
        console.print(f"  audit log: chain intact, {audit.records} records, head {audit.head_hash}")
    else:
        first = audit.problems[0] if audit.problems else None
        detail = f" (line {first.line}: {first.kind}: {first.detail})" if first else ""
        console.print(f"  [red]audit log: the chain does not verify{detail}[/red]")
        ok = False
    return ok


@click.command()
@click.option(
    "--out",
    "out_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Where the demo's files go (plan, wave plan, approvals, waves page): a demo-<time> folder in it.",
)
@click.option("--no-reset", is_flag=True, help="Do not reset the lab hosts to their baseline first.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory of the run (default: $OTORCH_STATE_DIR or ./.otorch, where `otorch status` looks).",
)
@app_errors
def demo(out_root: Path, no_reset: bool, state_dir: Path | None) -> None:
    """The demo rollout on the lab: scan, plan, stage waves, run them, report.

    Shows nw-gw-01 rolled back automatically after its patch broke the service and nw-hist-01 blocked by
    diagnostics (never installed); ends with a summary and the paths of the report and the audit log.
    Exit 0 when the run shows exactly that, 1 (ERROR) otherwise.

    \b
    Examples:
      otorch demo                               # what `make demo` runs after `otorch lab up`
      otorch demo --no-reset --out /tmp/demo    # keep the hosts as they are
      otorch demo --state-dir /tmp/demo-state && otorch status --state-dir /tmp/demo-state
    """
    console = Console()
    cfg = LabConfig.from_env()
    inventory = cfg.inventory_dir
    out = out_root / f"demo-{clock.now():%Y%m%d-%H%M%S}"
    state = StatePaths.resolve(state_dir, os.environ).root
    out.mkdir(parents=True, exist_ok=True)

    _step(console, "1/6 lab: up and reset to the baseline")
    lifecycle.up(cfg, progress=lambda m: console.print(f"  {m}", highlight=False))
    if not no_reset:
        lifecycle.reset(cfg, progress=lambda m: console.print(f"  {m}", highlight=False))

    _step(console, "2/6 scan: record every host's baseline")
    try:  # the same call as `otorch scan`
        scanned = scans.scan(
            inventory, "demo", Caller(state_dir=state, backend=make_backend, warn=warn),
            catalog=inventory / "catalog.yml",
        )  # fmt: skip
    except AppError as exc:
        scan_cli.option_errors(exc).show()
        raise click.ClickException("scan failed") from exc
    scan_cli.render(scanned)
    if scanned.exit_code:
        raise click.ClickException("scan failed")

    _step(console, "3/6 plan: match the lab advisories, prioritize (SSVC)")
    plan_file, waves_file = out / "plan.json", out / "waves.json"
    optional = {name: inventory / name for name in ("kev.json", "exemptions.yml", "approvals.yml")}
    present = {name: path if path.is_file() else None for name, path in optional.items()}
    try:  # the same call as `otorch plan`
        planned = planning.plan(
            inventory, (inventory / "advisories",), inventory / "catalog.yml", clock.now_seconds(), plan_file,
            kev=present["kev.json"], exemptions=present["exemptions.yml"], approvals=present["approvals.yml"],
        )  # fmt: skip
    except AppError as exc:
        plan_cli.show_problems(exc)
        raise click.ClickException("plan failed") from exc
    plan_cli.render(plan_cli.summary_console(), planned)
    trust = lab_trust(cfg.lab_dir)  # lab keys under .lab/trust (docs/trust.md)
    os.environ[TRUST_ENV] = str(trust.trust_file)
    sign_file(plan_file, trust.keys[PLANNER], Kind.PLAN)
    console.print(f"  plan signed by {PLANNER} ({plan_file}.sig); trust file {trust.trust_file}")
    approvals_dir = out / "approvals"  # signed by the lab approver, not the operator (docs/trust.md)
    policy_file = inventory / "policy.yml"
    signed = sign_lab_approvals(
        trust, planned.plan, planning.wave_policy(policy_file if policy_file.is_file() else None),
        approvals_dir, clock.now(),
    )  # fmt: skip
    for statement in signed:
        console.print(f"  asset approval of {statement.asset} signed by {APPROVER} ({approvals_dir})")

    _step(console, "4/6 waves: stage the plan (canary first, budgets, windows)")
    staged = staging.stage(  # the same call as `otorch waves`
        plan_file, clock.now_seconds(), policy_file=policy_file if policy_file.is_file() else None,
        inventory=str(inventory), approvals_dir=approvals_dir, output=waves_file,
        html_file=out / "waves.html",
    )  # fmt: skip
    waves_cli.render(staged.wave_plan, console, max_rows=200)
    waves_cli.signed_approvals(staged.gate, console)
    sign_file(waves_file, trust.keys[PLANNER], Kind.WAVEPLAN)
    console.print(f"  wave plan signed by {PLANNER} ({waves_file}.sig)")

    _step(console, "5/6 run: every wave, operator demo")
    observer, live = make_observer(as_json=False)
    syslog_copy = demo_audit.start_copy(out, console)  # every audit record also to a loopback rsyslog
    repo = cfg.repo_dir / "main"  # the lab's signed repository: the artifacts the hosts install
    request = RunRequest(
        operator="demo", inventory=inventory, catalog=inventory / "catalog.yml",
        artifacts=(repo,) if repo.is_dir() else (), trust_file=trust.trust_file, plan_file=plan_file,
        key=trust.keys[OPERATOR], approvals_dir=approvals_dir,
    )  # fmt: skip
    audit_config = demo_audit.write_config(out, syslog_copy, trust)
    with live:  # the same call as `otorch run out/.../waves.json --yes`
        outcome = runs.start_run(waves_file, request, caller(state, observer, audit_config=audit_config))
    evidence = outcome.evidence
    console.print(
        f"  authority: wave plan signed by {evidence.get('waveplan_signed_by')}, plan signed by "
        f"{evidence.get('plan_signed_by')}, staged from {evidence.get('staged_from')}, "
        f"operator {OPERATOR} proven by signature: {'operator_signature' in evidence}"
    )

    _step(console, "6/6 report")
    paths = outcome.paths
    reports_dir = paths.reports
    # the same calls as `otorch report run` and `otorch report compliance`; a report that could not be
    # written is shown and does not change what the run did (the checks below decide the exit code)
    try:
        report_cli.render_run(
            reports.run_report(state, outcome.run_id, out_dir=reports_dir, plan_path=plan_file)
        )
    except AppError as exc:
        click_error(exc).show()
    try:
        compliance = reports.compliance_report(
            state, plan_path=plan_file, kev=inventory / "kev.json",
            policy=policy_file if policy_file.is_file() else None,
            targets={"html": reports_dir / "compliance.html", "md": reports_dir / "compliance.md"},
        )  # fmt: skip
        report_cli.render_compliance(compliance)
    except AppError as exc:
        click_error(exc).show()
    console.print(f"  waves timeline: {out / 'waves.html'}; compliance: {reports_dir / 'compliance.html'}")
    render(outcome, as_json=False, extra={"reports": str(reports_dir), "outputs": str(out)})
    console.print()
    with StateStore(paths.db) as store:
        ok = _check(outcome, console, verify_audit(paths.audit, expected_head=store.audit_head()))
        ok &= demo_audit.show(console, paths, store, trust.trust_file, syslog_copy)
    sys.exit(ExitCode.OK if ok else ExitCode.ERROR)
