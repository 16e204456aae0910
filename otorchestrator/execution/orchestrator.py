"""The orchestrator: start, resume, roll back and abort runs of a wave plan.

Everything it touches is injected (backend, state store, audit log, clock, observers): no globals, `now`
from the clock. The state machine itself lives in `waverunner.py`; this module is about a run's life:
safety checks before anything starts, the run lock, the run record, and the final status.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from otorchestrator.execution.backend import Backend
from otorchestrator.execution.observer import Observer, Observers
from otorchestrator.execution.options import ABORTED, RunOptions
from otorchestrator.execution.preflight import run_space_needs, space_problems
from otorchestrator.execution.recorder import Recorder
from otorchestrator.execution.safety import (
    SafetyProblem,
    check_artifacts,
    check_catalog,
    check_waveplan_hash,
)
from otorchestrator.execution.summary import RunSummary
from otorchestrator.execution.vars import host_patches
from otorchestrator.execution.waverunner import WaveRunner
from otorchestrator.models.run import AuditKind, HostState, RunRecord, RunStatus
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import Clock
from otorchestrator.store.errors import AuditError, StoreError, StoreUnavailable
from otorchestrator.store.journal import RunJournal
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore


class OrchestratorError(Exception):
    """Base of the orchestrator's own errors."""


class RunRefused(OrchestratorError, RuntimeError):
    """Nothing was started: a safety check failed or the request does not fit the run."""

    def __init__(self, reason: str, problems: Sequence[SafetyProblem] = ()) -> None:
        lines = [reason, *(f"  - {p.describe()}" for p in problems)]
        super().__init__("\n".join(lines))
        self.reason = reason
        self.problems = tuple(problems)


AUDIT_SAFETY_OVERRIDE = "safety_override"
AUDIT_OBSERVER_FAILED = "observer_failed"


def new_run_id(now: datetime) -> str:
    return f"run-{now:%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


@dataclass(frozen=True)
class AbortResult:
    run_id: str
    requested: bool  # True: a live run was asked to stop; False: the run was marked aborted here
    detail: str


class Orchestrator:
    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        audit: AuditLog,
        clock: Clock,
        observers: Observer | Sequence[Observer] | None = (),
        redactor: Redactor | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.audit = audit
        self.clock = clock
        self.observer = Observers.of(observers)  # progress, live report, ...: each sees every call
        self.redactor = redactor or audit.redactor

    # -- helpers ------------------------------------------------------------------------------------

    def _recorder(self, run_id: str, operator: str, waveplan: WavePlan) -> Recorder:
        patches = waveplan.patch_map()
        per_host = {h.name: tuple(host_patches(h, patches)) for w in waveplan.waves for h in w.hosts}
        return Recorder(
            run_id, operator, self.store, self.audit, self.clock, self.observer, self.redactor, per_host
        )

    def _problems(
        self, waveplan: WavePlan, options: RunOptions, expected: str | None, run_id: str
    ) -> list[SafetyProblem]:
        problems = check_waveplan_hash(waveplan, expected)
        if options.authority is not None:
            problems += options.authority.check_run(waveplan, options.operator, run_id)
        if options.catalog is not None:
            problems += check_catalog(waveplan, options.catalog())
        if options.artifact_digests is not None:
            problems += check_artifacts(waveplan, options.artifact_digests())
        hosts = sum(len(w.hosts) for w in waveplan.waves)
        local_backups = self.backend.backups.local_dir  # None: the backend keeps backups elsewhere
        problems += space_problems(run_space_needs(self.store.path.parent, local_backups, hosts))
        return problems

    def _journal(self, run_id: str, operator: str) -> RunJournal:
        return RunJournal(self.store, self.audit, run_id, operator)

    def _refuse(self, run_id: str, operator: str, reason: str, problems: Sequence[SafetyProblem]) -> None:
        self._journal(run_id, operator).refused(self.clock.now(), reason, [p.describe() for p in problems])
        raise RunRefused(reason, problems)

    @staticmethod
    def _audit_override(rec: Recorder, options: RunOptions) -> None:
        """A safety check the operator turned off is on the record, before anything runs; so is what the
        run-level authority check verified (signers, the operator's signature), or that it was not asked."""
        if options.authority is None:
            rec.event("authority", result="unchecked", detail={"reason": "no Authority given to the run"})
        else:
            rec.event("authority", result="verified", detail=dict(options.authority.evidence))
        if options.artifact_check_override is not None:
            rec.event(
                AUDIT_SAFETY_OVERRIDE,
                result="artifact_check_skipped",
                detail={"check": "artifact", "reason": options.artifact_check_override},
            )

    def summary(self, run_id: str) -> RunSummary:
        return RunSummary(self.store.get_run(run_id), tuple(self.store.host_states(run_id).values()))

    def _audit_observer_failures(self, rec: Recorder) -> None:
        """An observer that failed during the run is on the record (it did not stop the run)."""
        failures = list(self.observer.failures)
        self.observer.failures.clear()
        if failures:
            rec.event(AUDIT_OBSERVER_FAILED, result="failed", detail={"failures": failures})

    def _finish(self, rec: Recorder, runner: WaveRunner) -> RunSummary:
        if runner.aborted:
            status, detail = RunStatus.ABORTED, runner.halt or "aborted by operator"
        elif runner.halt is not None:
            status, detail = RunStatus.HALTED, runner.halt
        else:
            status, detail = RunStatus.COMPLETED, ""
        self._audit_observer_failures(rec)
        rec.journal.run_status(status, rec.now(), detail)
        return self.summary(rec.run_id)

    def _guarded(self, rec: Recorder, body: Callable[[], RunSummary]) -> RunSummary:
        try:
            return body()
        except AuditError as exc:  # no host step starts without its audit record: halt, resumable
            detail = rec.clean(f"audit unavailable: {exc}")[:500]
            # on the audit record when the local log still takes it; in the store either way
            rec.journal.run_status(RunStatus.HALTED, rec.now(), detail, audit_lost=True)
            raise
        except sqlite3.Error as exc:  # the store cannot be written: no host step starts without its row
            raise self._store_unavailable(rec, exc) from exc
        except Exception as exc:  # record the failure, then let the caller render it
            detail = rec.clean(f"{type(exc).__name__}: {exc}")[:500]
            rec.journal.run_status(RunStatus.FAILED, rec.now(), detail)
            raise

    def _store_unavailable(self, rec: Recorder, exc: sqlite3.Error) -> StoreUnavailable:
        """The run stops where the store stopped taking writes. Marked halted when the store still takes
        that one update (audited first, as every status); otherwise it stays `running`, as after a crash.
        Either way hosts caught mid-step are re-probed by `otorch resume`."""
        detail = rec.clean(f"state store unavailable: {exc}")[:500]
        try:
            rec.journal.run_status(RunStatus.HALTED, rec.now(), detail, audit_lost=True)
        except (sqlite3.Error, StoreError):
            marked = "still marked running"
        else:
            marked = "marked halted"
        return StoreUnavailable(
            f"{self.store.path}: the state store cannot be written ({exc}); the run is {marked} and no "
            f"further host step was started. Free space (or restore the state directory), then "
            f"`otorch resume {rec.run_id}`: hosts caught mid-step are re-probed first."
        )

    # -- run ----------------------------------------------------------------------------------------

    def run(self, waveplan: WavePlan, options: RunOptions) -> RunSummary:
        """Start a new run. Raises `RunRefused` (nothing started) or `RunLocked` (the store is busy)."""
        now = self.clock.now()
        run_id = options.run_id or new_run_id(now)
        waves = [w for w in waveplan.waves if options.only_wave is None or w.index == options.only_wave]
        if not waves:
            self._refuse(run_id, options.operator, f"the wave plan has no wave {options.only_wave}", [])
        problems = self._problems(waveplan, options, None, run_id)
        if problems:
            self._refuse(run_id, options.operator, "safety checks failed; nothing was started", problems)
        self.audit.check_writable()  # AuditUnavailable: nothing started, no run recorded
        with self.store.lock(run_id, options.operator, now) as lock:
            record = RunRecord(
                run_id=run_id,
                operator=options.operator,
                waveplan_hash=waveplan.content_hash,
                plan_hash=waveplan.plan_hash,
                started_at=now,
                check_mode=options.check_mode,
                waveplan_path=options.waveplan_path,
                plan_path=options.plan_path,
                inventory_path=str(options.inventory),
            )
            rec = self._recorder(run_id, options.operator, waveplan)
            started = {
                "waveplan_hash": waveplan.content_hash,
                "plan_hash": waveplan.plan_hash,
                "check_mode": options.check_mode,
                "artifact_check": options.artifact_digests is not None,
                "waves": [w.index for w in waves],
                "forks": options.forks,
                "previous_lock_holder": lock.previous.describe() if lock.previous else None,
            }
            try:  # audited, then stored: a failure of either leaves no run in the store
                rec.journal.start_run(record, started, [w.index for w in waves])
            except sqlite3.Error as exc:
                raise StoreUnavailable(
                    f"{self.store.path}: the state store cannot be written ({exc}); nothing was started"
                ) from exc

            def body() -> RunSummary:
                self._audit_override(rec, options)
                self.observer.run_started(record, resumed=False)
                rec.register({h.name: w.index for w in waves for h in w.hosts})
                runner = WaveRunner(self.backend, rec, waveplan, options)
                runner.execute()
                return self._finish(rec, runner)

            return self._guarded(rec, body)

    # -- resume -------------------------------------------------------------------------------------

    def resume(self, run_id: str, waveplan: WavePlan, options: RunOptions) -> RunSummary:
        """Continue a crashed, halted or aborted run: hosts caught mid-step are re-probed before anything
        acts on them; a halted run goes on with its remaining hosts; an aborted one is only reconciled."""
        run = self.store.get_run(run_id)
        problems = self._problems(waveplan, options, run.waveplan_hash, run_id)
        if problems:
            self._refuse(run_id, options.operator, "safety checks failed; nothing was resumed", problems)
        self.audit.check_writable()
        now = self.clock.now()
        with self.store.lock(run_id, options.operator, now) as lock:
            run = self.store.get_run(run_id)  # re-read under the lock
            rec = self._recorder(run_id, options.operator, waveplan)
            if run.status is RunStatus.COMPLETED and all(r.state.terminal for r in rec.hosts.values()):
                self.observer.message(f"run {run_id} is already completed: nothing to resume")
                return self.summary(run_id)
            reconcile_only = run.status is RunStatus.ABORTED
            options = _with_check_mode(options, run.check_mode)

            def body() -> RunSummary:
                resumed = rec.journal.resume_run(
                    now,
                    {
                        "previous_status": run.status.value,
                        "reconcile_only": reconcile_only,
                        "forks": options.forks,
                        "previous_lock_holder": lock.previous.describe() if lock.previous else None,
                    },
                    reopen=not reconcile_only,
                    status_detail=f"resumed by {options.operator}",
                )
                self._audit_override(rec, options)
                self.observer.run_started(resumed, resumed=True)
                if not rec.hosts:  # crashed before its hosts were registered
                    waves = self.store.run_waves(run_id) or {w.index for w in waveplan.waves}
                    rec.register(
                        {h.name: w.index for w in waveplan.waves if w.index in waves for h in w.hosts}
                    )
                runner = WaveRunner(self.backend, rec, waveplan, options)
                runner.reconcile()
                if reconcile_only:
                    runner.aborted, runner.halt = True, run.status_detail or "aborted by operator"
                    runner._skip_pending(list(rec.hosts), ABORTED + "run was aborted")
                else:
                    runner.release_skipped()
                    runner.execute()
                return self._finish(rec, runner)

            return self._guarded(rec, body)

    # -- operator actions ---------------------------------------------------------------------------

    def rollback(
        self, run_id: str, waveplan: WavePlan, options: RunOptions, hosts: Sequence[str] = ()
    ) -> RunSummary:
        """Roll back hosts of a finished run to their backups (default: every succeeded host)."""
        run = self.store.get_run(run_id)
        problems = check_waveplan_hash(waveplan, run.waveplan_hash)
        if problems:
            self._refuse(run_id, options.operator, "the wave plan does not match the run", problems)
        now = self.clock.now()
        with self.store.lock(run_id, options.operator, now):
            rec = self._recorder(run_id, options.operator, waveplan)
            unknown = [h for h in hosts if h not in rec.hosts]
            if unknown:
                self._refuse(run_id, options.operator, f"not in run {run_id}: {', '.join(unknown)}", [])
            wanted = list(hosts) or [n for n, r in rec.hosts.items() if r.state is HostState.SUCCEEDED]
            eligible = (HostState.SUCCEEDED, HostState.FAILED, HostState.ROLLBACK_FAILED)
            refused = [
                f"{n} ({rec.hosts[n].state.value}{', no backup' if not rec.hosts[n].backup_id else ''})"
                for n in wanted
                if rec.hosts[n].state not in eligible or not rec.hosts[n].backup_id
            ]
            if refused:
                self._refuse(run_id, options.operator, "cannot roll back: " + ", ".join(refused), [])
            options = _with_check_mode(options, run.check_mode)

            def body() -> RunSummary:
                runner = WaveRunner(self.backend, rec, waveplan, options)
                by_wave: dict[int, list[str]] = {}
                for n in wanted:
                    rec.event(AuditKind.OPERATOR_ACTION, host=n, result="rollback_requested")
                    rec.move(n, HostState.ROLLING_BACK, f"operator rollback by {options.operator}")
                    by_wave.setdefault(rec.hosts[n].wave, []).append(n)
                for index, names in sorted(by_wave.items()):
                    runner.rollback(runner.wave_by_index[index], names)
                return self.summary(run_id)

            return self._guarded(rec, body)

    def abort(self, run_id: str, operator: str, request: Callable[[], None]) -> AbortResult:
        """Abort a run. If it is live (holds the run lock), `request()` asks it to stop: it starts no new
        host and does not cancel an install. Otherwise pending hosts are skipped and the run is marked
        aborted here; hosts caught mid-step stay for `otorch resume` to reconcile."""
        self.store.get_run(run_id)
        holder = self.store.lock_holder()
        if holder is not None and holder.run_id == run_id:
            request()
            self._journal(run_id, operator).event(
                AuditKind.OPERATOR_ACTION,
                self.clock.now(),
                result="abort_requested",
                detail={"holder": holder.describe()},
            )
            return AbortResult(run_id, True, f"asked the live run to stop ({holder.describe()})")
        now = self.clock.now()
        with self.store.lock(run_id, operator, now):
            rec = Recorder(run_id, operator, self.store, self.audit, self.clock, self.observer, self.redactor)
            rec.event(AuditKind.OPERATOR_ACTION, result="abort")
            for name, record in list(rec.hosts.items()):
                if record.state is HostState.PENDING:
                    rec.move(name, HostState.SKIPPED, ABORTED + f"run aborted by {operator}")
            mid = [n for n, r in rec.hosts.items() if r.state.active or r.state is HostState.NEEDS_RECONCILE]
            detail = f"aborted by {operator}"
            if mid:
                detail += f"; caught mid-step, reconcile with `otorch resume {run_id}`: {', '.join(mid)}"
            rec.journal.run_status(RunStatus.ABORTED, now, detail)
            return AbortResult(run_id, False, detail)


def _with_check_mode(options: RunOptions, check_mode: bool) -> RunOptions:
    """A resumed run keeps the mode it started in."""
    from dataclasses import replace

    return options if options.check_mode == check_mode else replace(options, check_mode=check_mode)
