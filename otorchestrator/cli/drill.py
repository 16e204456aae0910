"""`otorch drill`: a rollback drill on a group of hosts (see docs/drills.md)."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import click

from otorchestrator.app import clock as app_clock
from otorchestrator.cli._shared import (
    CommandError,
    emit_json,
    inventory_option,
    json_option,
    load_assets,
    make_backend,
    resolve_paths,
    site_audit_sinks,
    state_dir_option,
    trust_option,
)
from otorchestrator.cli.scan import catalog_patches
from otorchestrator.execution.drill import Drill, DrillRefused, DrillReport, DrillSpec, select_drill_hosts
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.intake.approvals import load_approvals
from otorchestrator.models.plan import Approval, Plan
from otorchestrator.reporting.write import write_run_reports
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.errors import StoreError
from otorchestrator.store.state import StateStore
from otorchestrator.trust.drill_approvals import signed_drill_approvals
from otorchestrator.trust.trustfile import SiteTrust, TrustError, find_trust

log = logging.getLogger(__name__)

SELF_APPROVAL_GONE = (
    "--approve-safety is no longer accepted: an operator cannot approve their own drill of a safety system. "
    "Record the approval (kind: drill, subject: the host, approved_by: someone other than the operator, "
    "reason, at) in an approvals file and pass --approvals FILE (or the plan with --plan FILE)."
)


def _recorded_approvals(
    files: tuple[Path, ...], plan_path: Path | None
) -> tuple[tuple[Approval, ...], tuple[str, ...]]:
    """(the approvals of the approvals files and of the plan, where they were read)."""
    approvals: list[Approval] = []
    consulted: list[str] = []
    for path in files:
        try:
            found, problems = load_approvals(path)
        except (OSError, ValueError) as exc:  # unreadable, not YAML, no `approvals:` list
            raise CommandError(f"{path}: not an approvals file ({exc})", ExitCode.INPUT_INVALID) from exc
        if problems:
            raise CommandError(
                f"{path}: unusable approvals (nothing was touched):\n"
                + "\n".join(f"  {p}" for p in problems),
                ExitCode.INPUT_INVALID,
            )
        approvals.extend(found)
        consulted.append(f"approvals {path}")
    if plan_path is not None:
        try:
            plan = Plan.model_validate_json(plan_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{plan_path}: not a saved plan ({exc})", ExitCode.INPUT_INVALID) from exc
        approvals.extend(plan.approvals)
        consulted.append(f"plan {plan_path} ({plan.content_hash})")
    return tuple(approvals), tuple(consulted)


def _trust(trust_file: Path | None, approval_files: tuple[Path, ...], plan: Path | None) -> SiteTrust | None:
    """The site trust in force; with one, unsigned approvals (--approvals FILE, --plan) are refused."""
    try:
        trust = find_trust(trust_file)
    except TrustError as exc:
        raise CommandError(str(exc), ExitCode.REFUSED) from exc
    unsigned = [str(f) for f in (*approval_files, *([plan] if plan else []))]
    if trust is not None and unsigned:
        raise CommandError(
            f"{', '.join(unsigned)}: unsigned approvals are not accepted while the trust file "
            f"{trust.path} is in force; a safety-system host is drilled only on a signed drill approval "
            "(`otorch approve drill --asset HOST --approver NAME --reason ... --key KEY`); nothing touched",
            ExitCode.REFUSED,
        )
    return trust


def _print(report: DrillReport) -> None:
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
    \b
    drill-approvals.yml:
      approvals:
        - {kind: drill, subject: nw-sis-01, approved_by: carol (SIS engineer),
           reason: annual proof test, at: "2026-03-01T08:00:00+00:00"}

    Exit 0 when every baseline is restored, 3 when a host's is not (differences listed), 5 when refused
    (a safety-system host without a valid recorded approval: nothing touched). With --json the drill
    report (the drill-<id>.json file) is printed on stdout, progress stays on stderr.
    """
    if approve:
        raise click.UsageError(SELF_APPROVAL_GONE)
    clock = app_clock.CLOCK
    now = clock.now()
    paths = resolve_paths(state_dir)
    patches = {p.id: p for p in catalog_patches(catalog)}
    if patch_id not in patches:
        close = difflib.get_close_matches(patch_id, list(patches), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise click.BadParameter(f"{patch_id} is not in {catalog}{hint}", param_hint="--patch")
    patch = patches[patch_id]
    hosts, not_applicable = select_drill_hosts(load_assets(inventory), group, patch)
    if not hosts:
        raise click.UsageError(
            f"no host of {group!r} has {patch.package or patch.product} installed: nothing to drill"
        )
    names = {a.name for a in hosts}
    trust = _trust(trust_file, approval_files, plan_path)
    problems: dict[str, str] = {}
    if trust is None:
        recorded, consulted = _recorded_approvals(approval_files, plan_path)
        relevant = tuple(a for a in recorded if a.subject.strip() in names)
    else:  # docs/trust.md: only verified signed drill approvals
        signed = signed_drill_approvals(hosts, trust, signed_dir, operator, now)
        relevant, consulted, problems = signed.approvals, (signed.consulted,), signed.problems
    drill_id = drill_id or f"DRILL-{now:%Y%m%dT%H%M%SZ}"
    spec = DrillSpec(
        drill_id=drill_id,
        group=group,
        patch=patch,
        assets=tuple(hosts),
        inventory=inventory,
        operator=operator,
        approvals=relevant,
        approvals_from=consulted,
        signed_only=trust is not None,
        approval_problems=problems,
        not_applicable=tuple(not_applicable),
    )
    backend = make_backend(paths)
    try:
        with StateStore(paths.db) as store, store.lock(drill_id, operator, now):
            audit = AuditLog(paths.audit, head_store=store, sinks=site_audit_sinks(paths))
            runner = Drill(backend, store, audit, clock, progress=lambda m: click.echo(f"  {m}", err=True))
            log.info(
                "drill %s of %s on %d host(s)", drill_id, patch_id, len(hosts), extra={"drill_id": drill_id}
            )
            report = runner.run(spec)
    except DrillRefused as exc:
        log.warning("drill %s refused: %s", drill_id, exc, extra={"drill_id": drill_id})
        raise CommandError(str(exc), ExitCode.REFUSED) from exc
    except StoreError as exc:
        raise CommandError(str(exc), ExitCode.ERROR) from exc
    out = report_dir or paths.reports
    out.mkdir(parents=True, exist_ok=True)
    drill_json = out / f"drill-{drill_id}.json"
    drill_json.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    written = write_run_reports(paths, drill_id, out, clock.now())
    log.info("drill %s %s", drill_id, "passed" if report.passed else "FAILED", extra={"drill_id": drill_id})
    if as_json:
        emit_json({**report.model_dump(mode="json"), "files": {"drill": drill_json, **written}})
    else:
        _print(report)
        click.echo(f"  drill: {drill_json}")
        for fmt, path in written.items():
            click.echo(f"  {fmt:>5}: {path}")
    if not report.passed:
        raise SystemExit(ExitCode.HOSTS_FAILED)
