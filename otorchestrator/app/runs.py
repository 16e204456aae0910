"""Runs as library calls: start_run, resume, rollback, abort, status. The CLI (`otorch run|resume|
rollback|abort|status`) and the demo call these; each returns what happened and raises `AppError` with
the exit code when it refuses (otorchestrator/exitcodes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from otorchestrator.app.aborts import clear_abort, request_abort, run_dir
from otorchestrator.app.drills import resume_hint
from otorchestrator.app.errors import AppError
from otorchestrator.app.run_request import (
    RunRequest,
    copy_signed,
    load_waveplan,
    run_options,
)
from otorchestrator.app.session import Caller, Session, existing_paths, open_session
from otorchestrator.execution.authority import admissions
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import AbortResult, RunRefused, new_run_id
from otorchestrator.execution.summary import RunSummary
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.run import HostState, RunRecord, RunStatus
from otorchestrator.store.audit import read_events
from otorchestrator.store.errors import (
    AuditError,
    LockHolder,
    RunLocked,
    RunNotFound,
    StoreError,
    StoreUnavailable,
)
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore


@dataclass(frozen=True)
class RunOutcome:
    """Where a run stands after this call, where its records are, and what its authority check proved."""

    summary: RunSummary
    paths: StatePaths
    exit_code: ExitCode
    evidence: Mapping[str, object] = field(default_factory=dict)
    admitted: Mapping[str, list[str]] = field(default_factory=dict)  # host -> signed approval files

    @property
    def run_id(self) -> str:
        return self.summary.run.run_id


@contextmanager
def _engine_errors(run_id: str | None) -> Iterator[None]:
    """The engine's refusals and failures as the operator reads them, each with its exit code."""
    try:
        yield
    except AuditError as exc:
        again = f"`otorch resume {run_id}`" if run_id else "`otorch resume RUN`"
        raise AppError(
            f"audit unavailable: {exc}\nno further host step was started; the run is halted. Hosts caught "
            f"mid-step are re-probed by {again} once the audit log can be written (and forwarded).",
            ExitCode.AUDIT_UNAVAILABLE,
        ) from exc
    except (RunLocked, RunRefused) as exc:
        raise AppError(str(exc), ExitCode.REFUSED) from exc
    except RunNotFound as exc:
        raise AppError(str(exc), ExitCode.USAGE) from exc
    except StoreUnavailable as exc:
        raise AppError(str(exc), ExitCode.STATE_UNAVAILABLE) from exc
    except StoreError as exc:
        raise AppError(str(exc), ExitCode.ERROR) from exc


def _outcome(s: Session, summary: RunSummary, options: RunOptions | None, code: ExitCode) -> RunOutcome:
    trail = (e for _, e in read_events(s.paths.audit) if e.run_id == summary.run.run_id)
    evidence = dict(options.authority.evidence) if options and options.authority else {}
    return RunOutcome(summary, s.paths, code, evidence, admissions(trail))


def _run_record(s: Session, run_id: str) -> RunRecord:
    try:
        return s.store.get_run(run_id)
    except RunNotFound as exc:
        raise AppError(str(exc), ExitCode.USAGE) from exc


def start_run(waveplan_file: Path, request: RunRequest, caller: Caller) -> RunOutcome:
    """Run a wave plan: the wave plan (and the plan it was staged from) copied into the run's directory
    with their signatures, then every wave (or `request.wave`) through the engine."""
    waveplan = load_waveplan(waveplan_file)
    inventory = request.inventory or (Path(waveplan.inventory) if waveplan.inventory else None)
    if inventory is None or not inventory.exists():
        raise AppError("no inventory: pass --inventory (the wave plan names none that exists)", usage=True)
    with open_session(caller, tuple(request.secrets.values())) as s:
        run_id = new_run_id(s.clock.now())
        copy = run_dir(s.paths, run_id) / "waveplan.json"
        copy_signed(waveplan_file, copy)
        plan_copy = None
        if request.plan_file is not None:
            plan_copy = run_dir(s.paths, run_id) / f"plan{request.plan_file.suffix or '.json'}"
            copy_signed(request.plan_file, plan_copy)
        options = run_options(
            request, run_id=run_id, waveplan=waveplan, waveplan_copy=copy, plan_copy=plan_copy,
            inventory=inventory, check=request.check, wave=request.wave, paths=s.paths, caller=caller,
        )  # fmt: skip
        with _engine_errors(run_id):
            summary = s.orchestrator.run(waveplan, options)
        return _outcome(s, summary, options, summary.exit_code)


def resume(run_id: str, request: RunRequest, caller: Caller) -> RunOutcome:
    """Resume a crashed or halted run (its recorded wave plan, inventory, plan and check mode); the abort
    flag of an earlier `abort` is cleared first."""
    with open_session(caller, tuple(request.secrets.values())) as s:
        record = _run_record(s, run_id)
        hint = resume_hint(record)  # a drill is finished by `otorch drill --resume`
        if hint:
            raise AppError(hint, ExitCode.REFUSED)
        if not record.waveplan_path or not Path(record.waveplan_path).is_file():
            raise AppError(
                f"run {run_id}: its wave plan copy is missing ({record.waveplan_path})", ExitCode.REFUSED
            )
        waveplan = load_waveplan(Path(record.waveplan_path))
        inventory = request.inventory or Path(record.inventory_path or waveplan.inventory or "")
        if not inventory.exists():
            raise AppError(f"inventory {inventory} not found: pass --inventory", usage=True)
        recorded_plan = Path(record.plan_path) if record.plan_path else None
        options = run_options(
            request, run_id=run_id, waveplan=waveplan, waveplan_copy=Path(record.waveplan_path),
            plan_copy=request.plan_file or recorded_plan, inventory=inventory, check=record.check_mode,
            wave=None, paths=s.paths, caller=caller,
        )  # fmt: skip
        clear_abort(s.paths, run_id)
        with _engine_errors(run_id):
            summary = s.orchestrator.resume(run_id, waveplan, options)
        return _outcome(s, summary, options, summary.exit_code)


def rollback(
    run_id: str,
    hosts: Sequence[str],
    operator: str,
    caller: Caller,
    *,
    inventory: Path | None = None,
    secrets: Mapping[str, str] | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> RunOutcome:
    """Roll `hosts` of a run (default: every succeeded host) back to their pre-install backup. `confirm`
    is asked what will be rolled back; False refuses (REFUSED). ATTENTION when a host's rollback failed."""
    values = dict(secrets or {})
    with open_session(caller, tuple(values.values())) as s:
        record = _run_record(s, run_id)
        waveplan = load_waveplan(Path(record.waveplan_path or ""))
        where = inventory or Path(record.inventory_path or waveplan.inventory or "")
        what = ", ".join(hosts) or "every succeeded host"
        if confirm is not None and not confirm(f"Roll back {what} of run {run_id}?"):
            raise AppError("not confirmed", ExitCode.REFUSED)
        options = RunOptions(operator=operator, inventory=where, secret_vars=values)
        with _engine_errors(run_id):
            summary = s.orchestrator.rollback(run_id, waveplan, options, tuple(hosts))
        failed = any(
            h.host in (hosts or [h.host]) and h.state is HostState.ROLLBACK_FAILED for h in summary.hosts
        )
        return _outcome(s, summary, None, ExitCode.ATTENTION if failed else ExitCode.OK)


@dataclass(frozen=True)
class AbortOutcome:
    result: AbortResult
    exit_code: ExitCode


def abort(run_id: str, operator: str, caller: Caller) -> AbortOutcome:
    """Abort a run: a live one (holding the run lock) is asked to stop through the abort flag; one that is
    not live is marked aborted here."""
    with open_session(caller) as s:

        def request() -> None:
            request_abort(s.paths, run_id, operator)

        try:
            result = s.orchestrator.abort(run_id, operator, request)
        except RunNotFound as exc:
            raise AppError(str(exc), ExitCode.USAGE) from exc
        except RunLocked as exc:
            raise AppError(str(exc), ExitCode.REFUSED) from exc
        status_now = s.store.get_run(run_id).status
    ok = result.requested or status_now is RunStatus.ABORTED
    return AbortOutcome(result, ExitCode.OK if ok else ExitCode.ERROR)


@dataclass(frozen=True)
class StatusOutcome:
    summary: RunSummary
    lock_holder: LockHolder | None


def status(state_dir: Path | None, run_id: str | None = None) -> StatusOutcome:
    """A run's hosts and states (default: the latest run) and who holds the run lock; nothing is created."""
    paths = existing_paths(state_dir)
    with StateStore(paths.db) as store:
        try:
            record = store.get_run(run_id) if run_id else store.latest_run()
        except RunNotFound as exc:  # an unknown id (a scan's included): a usage error, not a traceback
            raise AppError(str(exc), ExitCode.USAGE) from exc
        if record is None:
            raise AppError("no runs in the state store", ExitCode.USAGE)
        summary = RunSummary(record, tuple(store.host_states(record.run_id).values()))
        return StatusOutcome(summary, store.lock_holder())
