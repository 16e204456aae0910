"""Writes every step of a run through the `RunJournal` (audit intent, then store), then tells the observers.

The orchestrator calls `move` before the action the new state starts, so a crash leaves the store (and
the audit log) saying what may have been under way. Secrets registered with the redactor are scrubbed
from everything written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from otorchestrator.execution.backend import TaskEvent
from otorchestrator.execution.observer import Observer, Observers
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import AuditEvent, AuditKind, HostState, HostStateRecord
from otorchestrator.models.waves import Wave
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import Clock
from otorchestrator.store.journal import RunJournal
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

# TaskEvent.status -> the stored status ("started" is not a result; "changed" is ok + changed)
_TASK_STATUS = {
    "ok": "ok",
    "changed": "ok",
    "failed": "failed",
    "unreachable": "unreachable",
    "skipped": "skipped",
    "timed_out": "timed_out",
}


class Recorder:
    def __init__(
        self,
        run_id: str,
        operator: str,
        store: StateStore,
        audit: AuditLog,
        clock: Clock,
        observers: Observer | Sequence[Observer] | None = (),
        redactor: Redactor | None = None,
        patches: Mapping[str, tuple[Patch, ...]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.operator = operator
        self.store = store
        self.audit = audit
        self.clock = clock
        self.observer = Observers.of(observers)  # every observer of the run; none can stop it
        self.redactor = redactor or audit.redactor
        self.patches = dict(patches or {})  # host -> its patches (for the audit's patch and artifact hash)
        self.journal = RunJournal(store, audit, run_id, operator)
        known = _run_exists(store, run_id)
        self.hosts: dict[str, HostStateRecord] = store.host_states(run_id) if known else {}

    def refresh(self) -> None:
        self.hosts = self.store.host_states(self.run_id)

    def now(self) -> datetime:
        return self.clock.now()

    def state(self, host: str) -> HostState | None:
        record = self.hosts.get(host)
        return record.state if record else None

    def clean(self, text: str) -> str:
        cleaned, _ = self.redactor.scrub(text)
        return str(cleaned)

    def _patch_fields(self, host: str | None) -> tuple[str | None, str | None]:
        """(patch ids, artifact sha256s), comma-separated in install order, for the host's audit events."""
        patches = self.patches.get(host or "", ())
        if not patches:
            return None, None
        return ",".join(p.id for p in patches), ",".join(p.sha256 or "-" for p in patches)

    def event(
        self,
        kind: str,
        *,
        host: str | None = None,
        wave: int | None = None,
        phase: Phase | None = None,
        result: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        patch_id, artifact_sha256 = self._patch_fields(host)
        return self.journal.event(
            kind,
            self.now(),
            host=host,
            wave=wave,
            phase=phase,
            patch_id=patch_id,
            artifact_sha256=artifact_sha256,
            result=result,
            detail=detail,
        )

    def register(self, hosts: Mapping[str, int]) -> None:
        """Add the run's hosts as pending: every intent audited, then one store transaction (all or none)."""
        now = self.now()
        tags = {host: self._patch_fields(host) for host in hosts}
        for record in self.journal.register_hosts(hosts, now, tags):
            self.hosts[record.host] = record
            self.observer.host_moved(record.host, record.wave, None, record.state, "", now)

    def move(
        self,
        host: str,
        to: HostState,
        detail: str = "",
        *,
        phase: Phase | None = None,
        backup_id: str | None = None,
        versions_before: Mapping[str, str] | None = None,
        versions_after: Mapping[str, str] | None = None,
    ) -> HostStateRecord:
        """Durably move `host` (audit intent, then store) and return its new record."""
        old = self.hosts[host]
        return self._write(
            host,
            old.wave,
            old.state,
            to,
            detail,
            phase=phase,
            backup_id=backup_id,
            versions_before=versions_before,
            versions_after=versions_after,
        )

    def _write(
        self,
        host: str,
        wave: int,
        old: HostState | None,
        to: HostState,
        detail: str,
        *,
        phase: Phase | None = None,
        backup_id: str | None = None,
        versions_before: Mapping[str, str] | None = None,
        versions_after: Mapping[str, str] | None = None,
    ) -> HostStateRecord:
        now = self.now()
        detail = self.clean(detail)
        patch_id, artifact_sha256 = self._patch_fields(host)
        new = self.journal.transition(
            host,
            wave,
            to,
            phase,
            detail,
            now=now,
            expect=[old],
            backup_id=backup_id,
            versions_before=versions_before,
            versions_after=versions_after,
            patch_id=patch_id,
            artifact_sha256=artifact_sha256,
        )
        self.hosts[host] = new
        self.observer.host_moved(host, new.wave, old, to, detail, now)
        return new

    def reverse_patches(
        self, host: str, wave: int, patch_ids: Iterable[str] | None = None, reason: str = ""
    ) -> list[str]:
        """A rollback undid the host's installs of this run: audit, then mark them reversed in the patch
        history (compliance and dependency checks then no longer count them). Returns the patch ids."""
        return self.journal.patches_reversed(
            host, wave, self.now(), patch_ids, self.clean(reason), tags=self._patch_fields(host)
        )

    def patch_installed(
        self,
        host: str,
        wave: int,
        patch: Patch,
        from_version: str | None,
        to_version: str | None,
    ) -> bool:
        """Audit, then store, the install of `patch` on `host`; once per run even across crashes (the
        store says whether it is recorded). False: it was already."""
        return self.journal.patch_installed(
            host,
            wave,
            patch.id,
            patch.package,
            from_version,
            to_version,
            self.now(),
            target_version=patch.target_version,
            tags=self._patch_fields(host),
        )

    def task_handler(self, wave: int) -> Callable[[TaskEvent], None]:
        """The backend's per-event callback: each task result goes into the store as it arrives (so a
        kill -9 leaves task-level evidence), then to the observer. Names are scrubbed of secrets."""

        def handle(event: TaskEvent) -> None:
            status = _TASK_STATUS.get(event.status)
            if status is not None:
                try:
                    self.journal.task_event(
                        wave,
                        event.host,
                        event.phase,
                        self.clean(event.task)[:300],
                        status,
                        event.status == "changed",
                        self.now(),
                    )
                except Exception as exc:  # evidence only: never break the playbook run over it
                    self.observer.message(f"could not store a task event: {type(exc).__name__}")
            self.observer.task(event)

        return handle

    def wave_started(self, wave: Wave, resumed: bool = False) -> int:
        """Audit, then store, that a wave starts; returns its row in the waves table."""
        hosts = [h.name for h in wave.hosts if h.name in self.hosts]
        return self.journal.wave_started(
            wave.index, wave.name, wave.failure_budget, wave.budget_counts_blocked, hosts, self.now()
        )

    def wave_finished(self, wave: Wave, row_id: int, halted: str | None, aborted: bool) -> None:
        """After the wave's last phase: audit wave_finished (or wave_halted), then the store."""
        outcome = "aborted" if aborted else "halted" if halted else "completed"
        reason = self.clean(halted or "")
        self.journal.wave_finished(wave.index, row_id, outcome, reason, self.now(), halted=halted is not None)

    def wave_not_started(self, wave: Wave, reason: str, aborted: bool) -> None:
        """A wave that a halt (or abort) keeps from starting: audit wave_halted, then the store."""
        outcome = "aborted" if aborted else "halted"
        self.journal.wave_refused(
            wave.index,
            wave.name,
            wave.failure_budget,
            wave.budget_counts_blocked,
            outcome,
            self.clean(reason),
            self.now(),
        )

    def phase_started(self, wave: int, phase: Phase, hosts: Iterable[str], check_mode: bool) -> datetime:
        names = sorted(hosts)
        self.event(
            AuditKind.PHASE_STARTED,
            wave=wave,
            phase=phase,
            result="started",
            detail={"hosts": names, "check_mode": check_mode},
        )
        at = self.now()
        self.observer.phase_started(wave, phase, names, at)
        return at

    def phase_result(
        self, wave: int, result: PhaseResult, started_at: datetime, finished_at: datetime | None = None
    ) -> PhaseResult:
        """Store and audit a phase result, scrubbed of registered secrets (`finished_at`: now if None)."""
        data, _ = self.redactor.scrub(result.model_dump(mode="json", by_alias=True))
        clean = PhaseResult.model_validate(data)
        self.journal.phase_result(wave, clean, started_at, finished_at or self.now())
        return clean


def _run_exists(store: StateStore, run_id: str) -> bool:
    try:
        store.get_run(run_id)
    except LookupError:
        return False
    return True
