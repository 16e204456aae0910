"""`drill`: a rollback drill on a group of hosts (docs/drills.md) as a library call: the patch from the
catalog, the drill hosts, the approvals that release safety-system hosts (recorded ones, or only verified
signed ones under a site trust file), the spec, the run lock, then the drill (execution/drill.py) and its
reports. `otorch drill` renders what it returns."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otorchestrator.app.errors import AppError
from otorchestrator.app.scans import OptionError, catalog_patches, inventory_assets
from otorchestrator.app.session import Caller, audit_sinks_for
from otorchestrator.execution.backend import Backend
from otorchestrator.execution.drill import Drill
from otorchestrator.execution.drill_models import (
    DRILL_PLAN_PREFIX,
    DrillMismatch,
    DrillRefused,
    DrillReport,
    DrillSpec,
    select_drill_hosts,
)
from otorchestrator.execution.orphans import orphan_grace_s
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.approvals import load_approvals
from otorchestrator.models.plan import Approval, Plan
from otorchestrator.models.run import RunRecord
from otorchestrator.reporting.write import write_run_reports
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.errors import RunExists, RunNotFound, StoreError
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore
from otorchestrator.trust.drill_approvals import signed_drill_approvals
from otorchestrator.trust.trustfile import SiteTrust, TrustError, find_trust

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillRequest:
    """What to drill: GROUP (or one host) of the inventory, the catalog patch, who drills; the approvals
    files and saved plan whose recorded approvals release safety-system hosts; the trust file and signed
    approvals directory (docs/trust.md); the drill id (default DRILL-<UTC time>) and report directory
    (default <state>/reports)."""

    group: str
    inventory: Path
    patch_id: str
    catalog: Path
    operator: str
    approval_files: tuple[Path, ...] = ()
    plan_path: Path | None = None
    trust_file: Path | None = None
    signed_dir: Path | None = None
    drill_id: str | None = None
    report_dir: Path | None = None
    # finish the drill `drill_id` that was killed mid-way (same group, patch, inventory and catalog)
    resume: bool = False
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # scrubbed from every record


@dataclass(frozen=True)
class Drilled:
    """The drill report and the files written: drill-<id>.json and the run reports (format -> path)."""

    report: DrillReport
    drill_json: Path
    written: dict[str, Path]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.report.passed else ExitCode.HOSTS_FAILED


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
            raise AppError(f"{path}: not an approvals file ({exc})", ExitCode.INPUT_INVALID) from exc
        if problems:
            raise AppError(
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
            raise AppError(f"{plan_path}: not a saved plan ({exc})", ExitCode.INPUT_INVALID) from exc
        approvals.extend(plan.approvals)
        consulted.append(f"plan {plan_path} ({plan.content_hash})")
    return tuple(approvals), tuple(consulted)


def _trust(trust_file: Path | None, approval_files: tuple[Path, ...], plan: Path | None) -> SiteTrust | None:
    """The site trust in force; with one, unsigned approvals (--approvals FILE, --plan) are refused."""
    try:
        trust = find_trust(trust_file)
    except TrustError as exc:
        raise AppError(str(exc), ExitCode.REFUSED) from exc
    unsigned = [str(f) for f in (*approval_files, *([plan] if plan else []))]
    if trust is not None and unsigned:
        raise AppError(
            f"{', '.join(unsigned)}: unsigned approvals are not accepted while the trust file "
            f"{trust.path} is in force; a safety-system host is drilled only on a signed drill approval "
            "(`otorch approve drill --asset HOST --approver NAME --reason ... --key KEY`); nothing touched",
            ExitCode.REFUSED,
        )
    return trust


def drill(request: DrillRequest, caller: Caller, progress: Callable[[str], None] | None = None) -> Drilled:
    """Drill `request.group` one host at a time under the run lock (docs/drills.md); `progress` hears each
    step. REFUSED (nothing touched) when a safety-system host has no valid approval, the trust file is
    unusable or unsigned approvals are given under one; a usage error (`OptionError` for --patch) when the
    patch is not in the catalog or no host of the group has its product."""
    clock = caller.clock
    now = clock.now()
    paths = caller.paths().ensure()
    patches = {p.id: p for p in catalog_patches(request.catalog)}
    if request.patch_id not in patches:
        close = difflib.get_close_matches(request.patch_id, list(patches), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise OptionError("--patch", f"{request.patch_id} is not in {request.catalog}{hint}")
    patch = patches[request.patch_id]
    hosts, not_applicable = select_drill_hosts(inventory_assets(request.inventory), request.group, patch)
    if not hosts:
        raise AppError(
            f"no host of {request.group!r} has {patch.package or patch.product} installed: nothing to drill",
            usage=True,
        )
    names = {a.name for a in hosts}
    trust = _trust(request.trust_file, request.approval_files, request.plan_path)
    problems: dict[str, str] = {}
    if trust is None:
        recorded, consulted = _recorded_approvals(request.approval_files, request.plan_path)
        relevant = tuple(a for a in recorded if a.subject.strip() in names)
    else:  # docs/trust.md: only verified signed drill approvals
        signed = signed_drill_approvals(hosts, trust, request.signed_dir, request.operator, now)
        relevant, consulted, problems = signed.approvals, (signed.consulted,), signed.problems
    if request.resume and not request.drill_id:
        raise OptionError("--resume", "--resume needs the --drill-id of the drill to finish")
    drill_id = request.drill_id or f"DRILL-{now:%Y%m%dT%H%M%SZ}"
    spec = DrillSpec(
        drill_id=drill_id,
        group=request.group,
        patch=patch,
        assets=tuple(hosts),
        inventory=request.inventory,
        operator=request.operator,
        approvals=relevant,
        approvals_from=consulted,
        signed_only=trust is not None,
        approval_problems=problems,
        not_applicable=tuple(not_applicable),
        secret_vars=dict(request.secrets),
    )
    backend = caller.backend(paths)
    redactor = Redactor(tuple(request.secrets.values()))
    ids = {"drill_id": drill_id}
    try:
        with StateStore(paths.db) as store, store.lock(drill_id, request.operator, now):
            sinks = audit_sinks_for(caller.audit_config, paths, caller.warn)
            audit = AuditLog(paths.audit, redactor=redactor, head_store=store, sinks=sinks)
            try:
                runner = Drill(backend, store, audit, clock, progress, caller.all_observers(), redactor)
                if request.resume:
                    _end_orphans(backend, drill_id, caller.warn)
                    log.info("drill %s resumed", drill_id, extra=ids)
                    report = runner.resume(spec)
                else:
                    log.info("drill %s of %s on %d host(s)", drill_id, patch.id, len(hosts), extra=ids)
                    report = runner.run(spec)
            finally:
                audit.close()
    except DrillRefused as exc:
        log.warning("drill %s refused: %s", drill_id, exc, extra=ids)
        raise AppError(str(exc), ExitCode.REFUSED) from exc
    except RunExists as exc:
        raise AppError(
            f"drill {drill_id} was started before; to finish a drill that was stopped mid-way, run the same "
            "command with --resume (hosts caught after install are rolled back and compared, never "
            "installed again)",
            ExitCode.REFUSED,
        ) from exc
    except RunNotFound as exc:
        raise AppError(f"no drill {drill_id} to resume in {paths.db}", ExitCode.NO_STATE) from exc
    except DrillMismatch as exc:
        raise AppError(f"{exc}; nothing was touched", ExitCode.REFUSED) from exc
    except StoreError as exc:
        raise AppError(
            f"{exc}\nthe drill stopped; hosts caught mid-step are finished by the same command with "
            f"--drill-id {drill_id} --resume",
            ExitCode.ERROR,
        ) from exc
    out = request.report_dir or paths.reports
    out.mkdir(parents=True, exist_ok=True)
    drill_json = out / f"drill-{drill_id}.json"
    drill_json.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    written = write_run_reports(paths, drill_id, out, clock.now())
    log.info("drill %s %s", drill_id, "passed" if report.passed else "FAILED", extra=ids)
    return Drilled(report, drill_json, dict(written))


def _end_orphans(backend: Backend, drill_id: str, warn: Callable[[str], None]) -> None:
    """Before a resumed drill acts: the backend ends what the killed drill left running (after a grace,
    then SIGKILL); refused when something survived."""

    def notify(step: str, left: list[str]) -> None:
        warn(f"{step} {len(left)} process(es) left by the stopped drill: {', '.join(left)}")

    survivors = backend.end_orphans(drill_id, grace_s=orphan_grace_s(), notify=notify)
    if survivors:
        raise AppError(f"processes of the stopped drill survived SIGKILL: {survivors}", ExitCode.ERROR)


def resume_hint(run: RunRecord) -> str | None:
    """What `otorch resume` says when given a drill's id (None: `run` is not a drill): a drill is finished
    by `otorch drill --resume`, which re-reads its group, patch and hosts."""
    if not run.plan_hash.startswith(DRILL_PLAN_PREFIX):
        return None
    patch = run.plan_hash.removeprefix(DRILL_PLAN_PREFIX)
    return (
        f"{run.run_id} is a rollback drill ({run.status.value}), not a rollout: finish it with `otorch drill "
        f"--drill-id {run.run_id} --resume --patch {patch} --group GROUP --inventory "
        f"{run.inventory_path or 'INVENTORY'} --catalog CATALOG --operator NAME` (the group and catalog it "
        "was started with): hosts caught after install are rolled back and compared, never installed again"
    )
