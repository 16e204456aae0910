"""`otorch report [run] RUN` and `otorch report compliance`: write the run and compliance reports."""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path

import click

from otorchestrator.app import reports
from otorchestrator.cli._shared import MomentType, app_errors
from otorchestrator.exitcodes import ExitCode
from otorchestrator.reporting.compliance import EVALUATION_DAYS
from otorchestrator.reporting.evidence import build_cve_evidence, cve_lines
from otorchestrator.reporting.models import ComplianceReport, RunReport
from otorchestrator.reporting.render import render_json

_FILE = click.Path(dir_okay=False, path_type=Path)


class _RunByDefault(click.Group):
    """`otorch report RUN ...` is `otorch report run RUN ...`."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


def _state_dir_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="State directory (default: $OTORCH_STATE_DIR or ./.otorch).",
    )(f)


@click.group(cls=_RunByDefault)
def report() -> None:
    """Write reports: a run's report, or the compliance report of the assets.

    \b
    Examples:
      otorch report RUN --html r.html --junit r.xml   # same as `otorch report run RUN ...`
      otorch report run                               # latest run, every format into <state>/reports/
      otorch report compliance -i inventories/lab --plan plan.json --html compliance.html
      otorch report cve CVE-2026-10104 --plan plan.json  # the evidence chain of one CVE
    """


def _print_run_summary(rep: RunReport, err: bool = False) -> None:
    counts = ", ".join(f"{state} {n}" for state, n in rep.state_counts.items())
    blocked = f", {len(rep.refusals)} blocked by diagnostics (unchanged)" if rep.refusals else ""
    click.echo(
        f"run {rep.run_id}: {rep.status.value} ({counts}); {len(rep.failures)} failure(s), "
        f"{len(rep.rollbacks)} rollback(s){blocked}",
        err=err,
    )
    if rep.audit.verified is False:
        click.echo("warning: the audit chain does not verify: see the report's audit section", err=True)


@report.command("run")
@click.argument("run_id", required=False)
@click.option("--html", "html", type=_FILE, help="Self-contained HTML page.")
@click.option("--md", "md", type=_FILE, help="Markdown.")
@click.option("--json-file", "json_", type=_FILE, help="JSON file (the report model).")
@click.option("--junit", "junit", type=_FILE, help="JUnit XML: one test case per host and phase.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the report model as JSON on stdout (the file list goes to stderr).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write every format here as run-<RUN>.<ext> (default when no file is named: <state>/reports).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The saved plan the wave plan was staged from: CVEs and decisions of the held / exempt hosts.",
)
@click.option("--secret", "secrets", multiple=True, hidden=True, help="A value to redact (repeatable).")
@_state_dir_option
@app_errors
def run_report(
    run_id: str | None,
    html: Path | None,
    md: Path | None,
    json_: Path | None,
    junit: Path | None,
    out_dir: Path | None,
    plan_path: Path | None,
    as_json: bool,
    secrets: tuple[str, ...],
    state_dir: Path | None,
) -> None:
    """Report of run RUN (default: the latest run): wave timeline coloured per host outcome, per host its
    CVEs with their decision, versions (attempted ones too), phase durations and evidence (diagnostics
    values, backup checksum, approvals, artifact re-check, verification checks, rollback proof); failures
    apart from hosts blocked by diagnostics; rollbacks; the audit chain head.

    \b
    Examples:
      otorch report run                                   # latest run, every format into <state>/reports/
      otorch report run R-20261205-0200 --plan plan.json --html run.html --junit run.xml
      otorch report run R-20261205-0200 --json | jq '.hosts[] | {host, state}'
    """
    targets = {k: v for k, v in {"html": html, "md": md, "json": json_, "junit": junit}.items() if v}
    done = reports.run_report(
        state_dir, run_id, targets=targets, out_dir=out_dir, plan_path=plan_path, secrets=secrets
    )
    render_run(done, as_json)


def render_run(done: reports.RunReported, as_json: bool = False) -> None:
    """The run's summary line and the files written (on stderr with `as_json`, the report on stdout)."""
    _print_run_summary(done.report, err=as_json)
    for fmt, path in done.written.items():
        click.echo(f"{fmt:>6}: {path}", err=as_json)
    if as_json:
        click.echo(render_json(done.report), nl=False)


def _print_compliance_summary(rep: ComplianceReport) -> None:
    s = rep.summary()
    click.echo(
        f"{s['assets']} assets: {s['compliant']} compliant, {s['violations']} violation(s), "
        f"{s['warnings']} warning(s)"
    )
    for a in rep.assets:
        codes = ", ".join(f.code for f in a.flags) or "-"
        click.echo(f"  {a.asset:<14} {'ok ' if a.compliant else 'NOT'}  {codes}")
    if rep.audit_verified is False:
        click.echo(
            "warning: the audit chain does not verify: drill evidence is marked unverified "
            f"({rep.audit_problems[0] if rep.audit_problems else 'see the report'})",
            err=True,
        )


_INVENTORY = click.option(
    "-i",
    "--inventory",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Inventory of the assets (default: the plan's assets).",
)
_PLAN = click.option(
    "--plan",
    "plan_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The saved plan: the patch evaluation (applicable patches, decisions).",
)
_KEV = click.option(
    "--kev",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The KEV catalog (JSON): show each KEV-listed CVE's own due date.",
)
_AS_OF = click.option(
    "--as-of",
    type=MomentType(naive_is_utc=True),
    default=None,
    help="Evaluate as of this time (UTC unless it has an offset; default: now).",
)


@report.command("compliance")
@_INVENTORY
@_PLAN
@click.option("--html", "html", type=_FILE, help="Self-contained HTML page.")
@click.option("--md", "md", type=_FILE, help="Markdown.")
@click.option("--json", "json_", type=_FILE, help="JSON file (the report model).")
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Wave policy file: its `compliance:` section sets the clocks "
    "(apply_days, kev_days, immediate_days).",
)
@_KEV
@click.option(
    "--evaluation-days",
    type=click.IntRange(1, 366),
    default=None,
    help=f"Evaluation interval (CIP-007 R2.2 style) and apply-or-mitigate clock (R2.3); "
    f"overrides the policy (default {EVALUATION_DAYS}).",
)
@click.option(
    "--kev-days",
    type=click.IntRange(1, 366),
    default=None,
    help="A shorter clock for KEV-listed items (overrides the policy's kev_days).",
)
@_AS_OF
@click.option("--fail-on-violation", is_flag=True, help="Exit 12 (VIOLATION) when any asset has a violation.")
@_state_dir_option
@app_errors
def compliance(
    inventory: Path | None,
    plan_path: Path | None,
    html: Path | None,
    md: Path | None,
    json_: Path | None,
    policy: Path | None,
    kev: Path | None,
    evaluation_days: int | None,
    kev_days: int | None,
    as_of: datetime | None,
    fail_on_violation: bool,
    state_dir: Path | None,
) -> None:
    """Compliance per asset: each applicable patch's state (installed and verified, pending, attempted and
    failed, rolled back, exempt under a mitigation plan, blocked) and the date it falls due, the clocks still
    running, failed and rolled-back attempts (run and reason), rollbacks tested (real and drills), and the
    evidence chain per CVE. "Compliant" means only that no clock has run out.

    \b
    Examples:
      otorch report compliance --plan plan.json --policy inventories/lab/policy.yml \\
          --kev inventories/lab/kev.json --html compliance.html
      otorch report compliance --plan plan.json --kev-days 14 --as-of 2026-12-20 --fail-on-violation
    """
    targets = {k: v for k, v in {"html": html, "md": md, "json": json_}.items() if v}
    done = reports.compliance_report(
        state_dir, inventory=inventory, plan_path=plan_path, policy=policy, kev=kev,
        evaluation_days=evaluation_days, kev_days=kev_days, as_of=as_of, targets=targets,
    )  # fmt: skip
    render_compliance(done)
    if fail_on_violation and done.report.summary()["violations"]:
        raise SystemExit(ExitCode.VIOLATION)


def render_compliance(done: reports.ComplianceReported) -> None:
    """A line per asset (compliant or not, its flags) and the files written."""
    _print_compliance_summary(done.report)
    for fmt, path in done.written.items():
        click.echo(f"{fmt:>6}: {path}")


@report.command("cve")
@click.argument("cve_id")
@_INVENTORY
@_PLAN
@_KEV
@_AS_OF
@click.option("--json", "as_json", is_flag=True, help="Print the evidence chain as JSON.")
@_state_dir_option
@app_errors
def cve(
    cve_id: str,
    inventory: Path | None,
    plan_path: Path | None,
    kev: Path | None,
    as_of: datetime | None,
    as_json: bool,
    state_dir: Path | None,
) -> None:
    """The evidence chain of one CVE: every asset it applies to, the decision and why, the wave, the
    install, the verification, any rollback and the state now. Exit 1 when the plan does not name it.

    \b
    Examples:
      otorch report cve CVE-2026-10104 --plan plan.json
      otorch report cve CVE-2026-10104 --plan plan.json --json
    """
    if plan_path is None:
        raise click.UsageError("give --plan: the evaluation that says which assets the CVE applies to")
    _, sources = reports.compliance_inputs(state_dir, inventory=inventory, plan_path=plan_path, kev=kev)
    wanted = cve_id.strip().upper()
    chains = {e.cve: e for e in build_cve_evidence(sources)}
    chain = chains.get(wanted)
    if chain is None:
        close = difflib.get_close_matches(wanted, list(chains), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f" ({len(chains)} CVEs in the plan)"
        raise click.ClickException(f"{wanted} applies to no asset of {plan_path}{hint}")
    if as_json:
        click.echo(chain.model_dump_json(indent=2))
        return
    for line in cve_lines(chain, sources.kev_due.get(wanted)):
        click.echo(line)
