"""The rollback drill: prove on real hosts that the way back works, run by the engine's own writers.

Per drill host, one at a time (never two hosts of a group down together): scan (baseline) -> diagnostics ->
backup -> install -> verify -> FORCED rollback (even when verification passed) -> scan -> compare with the
baseline (packages, config hashes, services, listening ports): passed when the rollback reported ok and the
scans show no difference. Every transition (guarded by `expect`), phase start and result, task event and
audit record goes through a `Recorder` (audit intent, then store; registered secrets scrubbed; the observer
told); every phase job is built and run by `PhaseJobs` (execution/phasejob.py), as a wave's. The drill is a
run in the store (run id = drill id: `otorch report DRILL` renders it); each host's verdict is an audit event
`drill_result` (the compliance report's evidence), written before the host's final transition. A safety-
system host needs a recorded approval by someone other than the operator (`safety_approvals`).

`Drill.resume` (`otorch drill ... --resume`) finishes a drill killed mid-way, from the store: a host caught
before install is drilled again (unchanged), one caught at or after install is rolled back from its backup
and compared with its baseline (never installed twice), a finished host keeps its verdict.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from otorchestrator.execution.backend import Backend
from otorchestrator.execution.drill_models import (
    APPROVAL_RECORDED,
    DRILL_PLAN_PREFIX,
    DRILL_REFUSED,
    DRILL_RESULT,
    MAX_LISTED,
    DrillHostResult,
    DrillMismatch,
    DrillPhase,
    DrillRefused,
    DrillReport,
    DrillSpec,
    approval_detail,
    drill_digest,
    drill_wave,
    phase_ok,
    phase_step,
    safety_approvals,
    scan_data,
    started_detail,
)
from otorchestrator.execution.drill_resume import (
    at_target,
    attempt,
    install_proven,
    record_seconds,
    settled,
)
from otorchestrator.execution.observer import Observer
from otorchestrator.execution.options import HALTED, RunOptions
from otorchestrator.execution.phasejob import JobSpec, PhaseJobs
from otorchestrator.execution.recorder import Recorder
from otorchestrator.models.asset import Asset
from otorchestrator.models.plan import Approval
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState, RunRecord, RunStatus
from otorchestrator.models.waves import Wave
from otorchestrator.planning.drift import Difference, compare_scans
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import Clock
from otorchestrator.store.errors import StoreError
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

_S = HostState


@dataclass
class _Run:
    """One invocation of a drill: its recorder, its phase jobs, its one-host waves."""

    spec: DrillSpec
    rec: Recorder
    jobs: PhaseJobs
    waves: dict[str, Wave]


class Drill:
    """Runs a `DrillSpec` through a `Backend`, writing through a `Recorder` into `store` and `audit`
    (secrets of `redactor` scrubbed, default the audit log's; `observers` told every step as for a run)."""

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        audit: AuditLog,
        clock: Clock,
        progress: Callable[[str], None] | None = None,
        observers: Observer | Sequence[Observer] | None = (),
        redactor: Redactor | None = None,
    ) -> None:
        self.backend, self.store, self.audit, self.clock = backend, store, audit, clock
        self.progress = progress or (lambda _msg: None)
        self.observers = observers
        self.redactor = redactor

    # -- the drill -------------------------------------------------------------------------------

    def run(self, spec: DrillSpec) -> DrillReport:
        """Raises `DrillRefused` (before touching anything) for a safety-system host without a valid approval
        (see `safety_approvals`)."""
        rec = self._recorder(spec)
        approved = self._released(rec, spec)
        started = self.clock.now()
        record = RunRecord(
            run_id=spec.drill_id, operator=spec.operator, waveplan_hash=drill_digest(spec),
            plan_hash=f"{DRILL_PLAN_PREFIX}{spec.patch.id}", started_at=started,
            inventory_path=str(spec.inventory),
        )  # fmt: skip
        rec.journal.start_run(record, started_detail(spec))
        rec.observer.run_started(record, resumed=False)
        self._approvals(rec, spec, approved)
        rec.register({a.name: i for i, a in enumerate(spec.assets)})
        return self._drill(rec, spec, started, approved)

    def resume(self, spec: DrillSpec) -> DrillReport:
        """Finish a drill that was killed mid-way (the same spec: `DrillMismatch` otherwise, nothing
        touched; `RunNotFound` for a drill never started). Safety approvals are checked again."""
        run = self.store.get_run(spec.drill_id)
        if run.waveplan_hash != drill_digest(spec) or run.plan_hash != f"{DRILL_PLAN_PREFIX}{spec.patch.id}":
            raise DrillMismatch(
                f"{spec.drill_id} drilled other hosts or another patch ({run.plan_hash}); resume it with the "
                "group, patch, inventory and catalog it was started with"
            )
        rec = self._recorder(spec)
        approved = self._released(rec, spec)
        detail = {"drill": True, "previous_status": run.status.value}
        resumed = rec.journal.resume_run(
            self.clock.now(), detail, reopen=True, status_detail=f"resumed by {spec.operator}"
        )
        rec.observer.run_started(resumed, resumed=True)
        self._approvals(rec, spec, approved)
        if not rec.hosts:  # killed before its hosts were registered
            rec.register({a.name: i for i, a in enumerate(spec.assets)})
        return self._drill(rec, spec, run.started_at, approved)

    def _recorder(self, spec: DrillSpec) -> Recorder:
        patches = {a.name: (spec.patch,) for a in spec.assets}
        return Recorder(
            spec.drill_id, spec.operator, self.store, self.audit, self.clock, self.observers, self.redactor,
            patches,
        )  # fmt: skip

    def _released(self, rec: Recorder, spec: DrillSpec) -> dict[str, Approval]:
        approved, refused = safety_approvals(spec.assets, spec.approvals, spec.operator, self.clock.now())
        refused = {host: spec.approval_problems.get(host, why) for host, why in refused.items()}
        if refused:
            detail = {
                "hosts": list(refused),
                "reason": "safety system without a valid approval",
                "missing": refused,
            }
            rec.journal.event(
                DRILL_REFUSED, self.clock.now(), patch_id=spec.patch.id, result="refused", detail=detail
            )
            raise DrillRefused(refused, spec.signed_only)
        return approved

    def _approvals(self, rec: Recorder, spec: DrillSpec, approved: dict[str, Approval]) -> None:
        for host, approval in approved.items():
            detail = approval_detail(approval, spec.approvals_from)
            rec.event(APPROVAL_RECORDED, host=host, result="approved", detail=detail)

    def _drill(
        self, rec: Recorder, spec: DrillSpec, started: datetime, approved: dict[str, Approval]
    ) -> DrillReport:
        options = RunOptions(
            operator=spec.operator,
            inventory=spec.inventory,
            extravars=spec.extravars,
            secret_vars=spec.secret_vars,
            phase_timeout_s=spec.phase_timeout_s,
            hosts_inventory=spec.hosts_inventory,
            forks=1,
        )
        waves = {a.name: drill_wave(spec, i, a, started) for i, a in enumerate(spec.assets)}
        patches = {spec.patch.id: spec.patch}
        hostmap = {name: wave.hosts[0] for name, wave in waves.items()}
        run = _Run(spec, rec, PhaseJobs(self.backend, rec, options, hostmap, patches), waves)
        try:
            results: list[DrillHostResult] = []
            for asset in spec.assets:
                results.append(self._next(run, asset, results))
        except Exception as exc:  # on the record when it still takes it; hosts mid-step wait for --resume
            detail = rec.clean(f"{type(exc).__name__}: {exc}")[:500]
            with contextlib.suppress(StoreError, sqlite3.Error):
                rec.journal.run_status(RunStatus.FAILED, self.clock.now(), detail)
            raise
        passed = bool(results) and all(r.passed for r in results)
        failed = [r.host for r in results if not r.passed]
        detail = "drill passed: every baseline restored" if passed else f"drill FAILED on {', '.join(failed)}"
        status = RunStatus.COMPLETED if passed else RunStatus.FAILED
        rec.journal.run_status(status, self.clock.now(), detail)
        return DrillReport(
            drill_id=spec.drill_id,
            group=spec.group,
            patch_id=spec.patch.id,
            package=spec.patch.package,
            operator=spec.operator,
            started_at=started,
            finished_at=self.clock.now(),
            hosts=tuple(results),
            not_applicable=spec.not_applicable,
            approvals=tuple(approved.values()),
        )

    # -- one phase -------------------------------------------------------------------------------

    def _phase(
        self,
        run: _Run,
        host: str,
        phase: Phase,
        entering: HostState | None = None,
        detail: str = "",
        *,
        backup_id: str | None = None,
    ) -> tuple[PhaseResult, DrillPhase]:
        """Move the host into `entering` (None: it stays), then one phase job of it, built and recorded as a
        wave's (the result as stored: scrubbed of registered secrets)."""
        if entering is not None:
            run.rec.move(host, entering, detail, backup_id=backup_id if entering is _S.INSTALLING else None)
        extra: dict[str, str | None] | None = None
        backup_ids: dict[str, str | None] | None = None
        if phase is Phase.BACKUP:
            extra = {"otorch_backup_id": run.spec.drill_id}
        elif phase is Phase.ROLLBACK:
            extra, backup_ids = {"otorch_backup_id": backup_id}, {host: backup_id}
        started = self.clock.now()
        wave = run.waves[host]
        result = run.jobs.run(wave, JobSpec(phase, (host,), None, backup_ids=backup_ids, extra=extra))[host]
        seconds = round((self.clock.now() - started).total_seconds(), 3)
        step = phase_step(result, seconds)
        self.progress(f"{host}: {phase.value} {'ok' if step.ok else 'FAILED'} ({seconds:.1f} s)")
        return result, step

    # -- one host --------------------------------------------------------------------------------

    def _next(self, run: _Run, asset: Asset, done: Sequence[DrillHostResult]) -> DrillHostResult:
        """Drill the next host, unless an earlier one was left changed (not restored): then it is skipped,
        never a second member of the group down while the first is (the drill's failure budget is 0)."""
        broken = [r.host for r in done if r.final_state is _S.ROLLBACK_FAILED]
        if not broken or run.rec.state(asset.name) is not _S.PENDING:
            return self._host(run, asset)
        why = f"{HALTED}{', '.join(broken)} not restored to its baseline (rollback_failed); not drilled"
        run.rec.move(asset.name, _S.SKIPPED, why)
        return DrillHostResult(host=asset.name, passed=False, final_state=_S.SKIPPED, message=why)

    def _host(self, run: _Run, asset: Asset) -> DrillHostResult:
        """Drill `asset`, or finish what a killed drill left of it (`resume`)."""
        host = asset.name
        state = run.rec.state(host)
        if state is _S.PENDING:
            return self._drill_host(run, host)
        tried = attempt(self.store, run.spec.drill_id, host)
        record = run.rec.hosts[host]
        if record.state.terminal:
            return settled(record, tried, run.spec.patch)
        if not tried.installing:  # killed before install: the host was not changed; drill it again
            self._reconcile(run, host, "drill resumed: caught before install, host unchanged")
            return self._drill_host(run, host)
        backups = [b for r in tried.results(Phase.BACKUP) if (b := r.backup_id)]
        backup_id = record.backup_id or (backups[-1] if backups else run.spec.drill_id)
        scans, verify = tried.results(Phase.SCAN), tried.results(Phase.VERIFY)
        why = f"drill resumed: caught {record.state.value} after its install began"
        phases = [phase_step(r.result, record_seconds(r)) for r in tried.records]
        unproven = not install_proven(tried, run.spec.patch)
        if unproven and not tried.rolling_back:  # probe (read-only): did the install run?
            probe, step = self._phase(run, host, Phase.SCAN)
            phases.append(step)
            unproven = not at_target(probe, run.spec.patch)
        if unproven:
            why += "; its result was never recorded and no scan found the patch installed"
        if record.state not in (_S.INSTALLING, _S.VERIFYING):  # rolling back (or reconciling): again
            self._reconcile(run, host, why)
        verification_ok = phase_ok(verify[-1]) if verify else None
        before = scans[0] if scans else None
        return self._undo(run, host, backup_id, before, phases, verification_ok, why, why, unproven)

    @staticmethod
    def _reconcile(run: _Run, host: str, why: str) -> None:
        """Found mid-step: `needs_reconcile` first (as the engine's resume marks it), unless already."""
        if run.rec.state(host) is not _S.NEEDS_RECONCILE:
            run.rec.move(host, _S.NEEDS_RECONCILE, why)

    def _drill_host(self, run: _Run, host: str) -> DrillHostResult:
        phases: list[DrillPhase] = []

        def done(state: HostState, message: str) -> DrillHostResult:
            result = DrillHostResult(
                host=host, passed=False, final_state=state, phases=tuple(phases), message=message
            )
            return self._finish(run, result)

        before, step = self._phase(
            run, host, Phase.SCAN, _S.DIAGNOSING, "drill: baseline scan and diagnostics"
        )
        phases.append(step)
        if not step.ok:
            return done(_S.FAILED, f"baseline scan failed: {step.detail}")
        run.rec.journal.baseline(host, before, self.clock.now())
        _, step = self._phase(run, host, Phase.DIAGNOSTICS)
        phases.append(step)
        if not step.ok:
            return done(_S.BLOCKED, f"diagnostics failed: {step.detail}")

        backup, step = self._phase(run, host, Phase.BACKUP, _S.BACKING_UP)
        phases.append(step)
        if not step.ok:
            return done(_S.FAILED, f"backup failed, host untouched: {step.detail}")
        backup_id = backup.backup_id or run.spec.drill_id

        _, step = self._phase(
            run, host, Phase.INSTALL, _S.INSTALLING, f"drill: install {run.spec.patch.id}",
            backup_id=backup_id,
        )  # fmt: skip
        phases.append(step)
        verification_ok: bool | None = None
        if step.ok:
            _, step = self._phase(run, host, Phase.VERIFY, _S.VERIFYING)
            phases.append(step)
            verification_ok = step.ok
            why = "verification passed" if step.ok else f"verification failed: {step.detail}"
        else:
            why = f"install failed: {step.detail}"
        return self._undo(run, host, backup_id, before, phases, verification_ok, why)

    def _undo(
        self,
        run: _Run,
        host: str,
        backup_id: str,
        before: PhaseResult | None,
        phases: list[DrillPhase],
        verification_ok: bool | None,
        why: str,
        note: str = "",
        unproven: bool = False,
    ) -> DrillHostResult:
        """The forced rollback from `backup_id`, the scan after it and the comparison with `before`
        (`unproven`: the install may not have run, so a restored baseline proves nothing: inconclusive)."""
        _, rollback = self._phase(
            run, host, Phase.ROLLBACK, _S.ROLLING_BACK, f"drill: forced rollback ({why})", backup_id=backup_id
        )
        phases.append(rollback)
        after, step = self._phase(run, host, Phase.SCAN)
        phases.append(step)
        differences: tuple[Difference, ...] = ()
        if step.ok and before is not None:
            differences = compare_scans(scan_data(before), scan_data(after))
        restored = rollback.ok and step.ok and before is not None and not differences
        if restored and unproven:
            message = "baseline restored, but the drill is inconclusive: drill the host again"
        elif restored:
            message = f"baseline restored in {rollback.seconds:.1f} s"
        elif not step.ok:
            message = f"post-rollback scan failed: {step.detail}"
        elif before is None:
            message = "no baseline scan of this drill is recorded: nothing to compare with"
        else:
            shown = "; ".join(d.describe() for d in differences[:MAX_LISTED])
            more = f"; and {len(differences) - MAX_LISTED} more" if len(differences) > MAX_LISTED else ""
            parts = (
                [f"{len(differences)} difference(s) from the baseline: {shown}{more}"] if differences else []
            )
            if not rollback.ok:
                parts.append(f"rollback reported failure: {rollback.detail}")
            message = "; ".join(parts)
        if note:
            message += f" ({note})"
        result = DrillHostResult(
            host=host,
            passed=restored and not unproven,
            inconclusive=restored and unproven,
            final_state=_S.ROLLED_BACK if restored else _S.ROLLBACK_FAILED,
            phases=tuple(phases),
            verification_ok=verification_ok,
            rollback_ok=rollback.ok,
            rollback_seconds=rollback.seconds,
            differences=differences,
            message=message,
        )
        return self._finish(run, result)

    def _finish(self, run: _Run, result: DrillHostResult) -> DrillHostResult:
        """The host's verdict on the record (`drill_result`), then its final transition: a host in a final
        state always has its verdict in the audit log."""
        detail = result.evidence(run.spec.drill_id)
        wave = run.waves[result.host].index
        run.rec.event(DRILL_RESULT, host=result.host, wave=wave, result=result.verdict, detail=detail)
        run.rec.move(result.host, result.final_state, result.message)
        return result
