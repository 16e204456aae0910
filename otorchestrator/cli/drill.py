"""`otorch drill`: a rollback drill on a group of hosts (see docs/drills.md)."""

from __future__ import annotations

from pathlib import Path

import click

from otorchestrator.app import AppError, drills
from otorchestrator.app.session import Caller
from otorchestrator.cli._shared import (
    emit_json,
    inventory_option,
    json_option,
    make_backend,
    state_dir_option,
    trust_option,
    warn,
)
from otorchestrator.cli.run import read_secrets
from otorchestrator.cli.scan import option_errors
from otorchestrator.exitcodes import ExitCode, exit_codes_help

SELF_APPROVAL_GONE = (
    "--approve-safety is no longer accepted: an operator cannot approve their own drill of a safety system. "
    "Record the approval (kind: drill, subject: the host, approved_by: someone other than the operator, "
    "reason, at) in an approvals file and pass --approvals FILE (or the plan with --plan FILE)."
)


def _print(drilled: drills.Drilled) -> None:
    report = drilled.report
    click.echo(f"drill {report.drill_id}: patch {report.patch_id} on group {report.group}")
    for h in report.hosts:
        verdict = "PASSED" if h.passed else "FAILED"
        verification = {True: "passed", False: "failed", None: "not reached"}[h.verification_ok]
        took = f"{h.rollback_seconds:.1f} s" if h.rollback_seconds is not None else "-"
        click.echo(f"  {h.host:<14} {verdict}  verification {verification}, time to roll back {took}")
        click.echo(f"  {'':<14} {h.message}")
        for diff in h.differences:
            click.echo(f"  {'':<14}   - {diff.describe()}")
    for name in report.not_applicable:
        click.echo(f"  {name:<14} not drilled: {report.package or report.patch_id} is not installed")
    click.echo("drill PASSED: every baseline restored" if report.passed else "drill FAILED")
    click.echo(f"  drill: {drilled.drill_json}")
    for fmt, path in drilled.written.items():
        click.echo(f"  {fmt:>5}: {path}")


@click.command(epilog=exit_codes_help(ExitCode.HOSTS_FAILED, ExitCode.REFUSED, ExitCode.INPUT_INVALID))
@click.option("--group", required=True, help="Inventory group (or one host name) to drill.")
@inventory_option
@click.option("--patch", "patch_id", required=True, help="The catalog patch to install and roll back.")
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Patch catalog holding --patch (its artifact, sha256, package and version).",
)
@click.option("--operator", required=True, help="Who runs the drill (recorded).")
@click.option(
    "--approvals",
    "approval_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Approvals YAML (as `otorch plan --approvals`): releases safety-system hosts (repeatable).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A saved plan: its recorded approvals release safety-system hosts too.",
)
@click.option("--approve-safety", "approve", multiple=True, hidden=True, help="Refused (self-approval).")
@trust_option("With one, a safety-system host needs a signed drill approval (`otorch approve drill`).")
@click.option(
    "--signed-approvals", "signed_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Directory of signed approval files (default: the trust file's approvals_dir).",
)  # fmt: skip
@click.option("--drill-id", default=None, help="Identifier (default: DRILL-<UTC timestamp>).")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish drill --drill-id that was stopped mid-way (killed, store or audit unavailable): the same "
    "group, patch, inventory and catalog. Hosts caught before install are drilled again, hosts caught at or "
    "after install are rolled back and compared (never installed again), finished hosts keep their verdict.",
)
@click.option(
    "--secret-var", "secret_vars", multiple=True, metavar="NAME",
    help="As for `otorch run`: pass variable NAME to the drill's playbooks from env var NAME (or a hidden "
    "prompt); never in logs, artifacts, the store or the audit log (repeatable).",
)  # fmt: skip
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the drill's reports go (default: <state>/reports).",
)
@state_dir_option
@json_option
def drill(
    group: str,
    inventory: Path,
    patch_id: str,
    catalog: Path,
    operator: str,
    approval_files: tuple[Path, ...],
    plan_path: Path | None,
    approve: tuple[str, ...],
    trust_file: Path | None,
    signed_dir: Path | None,
    drill_id: str | None,
    resume: bool,
    secret_vars: tuple[str, ...],
    report_dir: Path | None,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Rollback drill: on each host of GROUP, one at a time: record the baseline, install PATCH, verify,
    roll back even when verification passed, scan again and compare with the baseline (package versions,
    config hashes, services, listening ports). Reports the time to roll back per host and every difference.

    A safety-system host (ot_safety_system) is drilled only with a recorded approval: kind drill (or
    asset), subject the host, approved by someone other than --operator, with a reason; read from
    --approvals FILE or the plan's approvals (--plan). Without one the drill is refused, nothing touched.
    With a site trust file (--trust, docs/trust.md) only a verified signed drill approval counts
    (`otorch approve drill --asset HOST ...` by an approver who is not --operator).

    \b
    Examples:
      otorch drill --group role_hmi -i inventories/lab --catalog inventories/lab/catalog.yml \\
        --patch NWC-P-2026-0106 --operator alice
      otorch drill --group safety_systems -i inventories/lab --catalog inventories/lab/catalog.yml \\
        --patch NWC-P-2026-0103 --operator alice --approvals drill-approvals.yml
      otorch drill --group role_hmi -i inventories/lab --catalog inventories/lab/catalog.yml \\
        --patch NWC-P-2026-0106 --operator alice --json | jq '.hosts[].rollback_seconds'
      REPO_TOKEN=... otorch drill --group role_hmi -i inventories/lab \\
        --catalog inventories/lab/catalog.yml --patch NWC-P-2026-0106 --operator alice \\
        --secret-var REPO_TOKEN
    \b
    drill-approvals.yml:
      approvals:
        - {kind: drill, subject: nw-sis-01, approved_by: carol (SIS engineer),
           reason: annual proof test, at: "2026-03-01T08:00:00+00:00"}

    A drill stopped mid-way (killed, the store or audit log unavailable) is finished by the same command
    with --drill-id ID --resume; starting a drill id again without --resume is refused.

    --secret-var NAME (as for `otorch run`): the playbooks get variable NAME, read from the environment
    variable NAME (removed from the environment once read) or a hidden prompt; handed on through a file in
    RAM (/dev/shm, refused without one), scrubbed from every log line, artifact, store row, audit record
    and report. Give it again with --resume.

    Exit 0 when every baseline is restored, 3 when a host's is not (differences listed), 5 when refused
    (a safety-system host without a valid recorded approval, or a drill id used before: nothing touched).
    With --json the drill report (the drill-<id>.json file) is printed on stdout, progress stays on stderr.
    """
    if approve:
        raise click.UsageError(SELF_APPROVAL_GONE)
    caller = Caller(state_dir=state_dir, backend=make_backend, warn=warn)
    try:
        secrets = read_secrets(secret_vars)  # refused (no RAM filesystem) before anything is read
        request = drills.DrillRequest(
            group=group, inventory=inventory, patch_id=patch_id, catalog=catalog, operator=operator,
            approval_files=approval_files, plan_path=plan_path, trust_file=trust_file,
            signed_dir=signed_dir, drill_id=drill_id, report_dir=report_dir, resume=resume, secrets=secrets,
        )  # fmt: skip
        drilled = drills.drill(request, caller, progress=lambda m: click.echo(f"  {m}", err=True))
    except AppError as exc:
        raise option_errors(exc) from exc
    if as_json:
        report = drilled.report
        emit_json(
            {**report.model_dump(mode="json"), "files": {"drill": drilled.drill_json, **drilled.written}}
        )
    else:
        _print(drilled)
    if drilled.exit_code:
        raise SystemExit(drilled.exit_code)
