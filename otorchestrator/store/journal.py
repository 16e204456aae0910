"""The one writer of a run's facts: each goes to the audit trail and the state store through here, checked
once, in a safe order.

A write that starts something (a transition, the run's creation, a wave, an install record, a soak) is
checked against the store, appended (fsynced) to the audit log as the intent, then committed to the store;
only then may the caller start the action. A crash between the two writes leaves the store at the previous
state, so the action had not started: resuming from the store is correct, and the audit shows the intent.
A phase result is the record of something that already happened: stored first, then audited.
Task events go to the store only, as they arrive (one audit record per task would be a write and an fsync
per task), and never fail the run; each phase-result audit record carries the count and digest of its
host's task events of the run so far, as stored (store/audit_records.py task_events_digest), so the audit
vouches for them and `otorch audit verify` finds one edited, added or deleted (store/crosscheck.py).

Control decisions (was this install recorded, did this soak finish, which waves did the run start) read
the store, never the audit file. Nothing outside the store package writes the store or the audit log of a
run except through this class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import (
    AuditKind,
    BaselineRecord,
    HostState,
    HostStateRecord,
    RunRecord,
    RunStatus,
)
from otorchestrator.store.audit_records import task_events_digest
from otorchestrator.store.errors import (
    AuditError,
    RunExists,
    RunNotFound,
)
from otorchestrator.store.journal_base import JournalWaves

PATCH_REVERSED = "patch_reversed"  # an audit kind of the journal's (AuditEvent.kind is a free string)

# a host's audit records carry its patches: (patch ids, artifact sha256s), comma-separated in install order
PatchTags = tuple[str | None, str | None]


class RunJournal(JournalWaves):
    """The one writer of one run's facts (its waves and soaks: store/journal_base.py). Hold the run lock
    while using it."""

    # -- the run -----------------------------------------------------------------------------------

    def start_run(
        self, record: RunRecord, detail: Mapping[str, Any], waves: Iterable[int] | None = None
    ) -> RunRecord:
        """Audit run_started (its `detail`), then create the run in the store with the `waves` it starts
        (what resume reads back). Raises `RunExists` before anything is written."""
        if record.run_id != self.run_id:
            raise ValueError(f"journal of {self.run_id} asked to create {record.run_id}")
        if self._exists() or self.store.is_scan(self.run_id):  # one id space in the audit
            raise RunExists(self.run_id)
        self.event(AuditKind.RUN_STARTED, record.started_at, result=record.status.value, detail=detail)
        return self.store.create_run(record, waves)

    def resume_run(
        self, now: datetime, detail: Mapping[str, Any], *, reopen: bool, status_detail: str = ""
    ) -> RunRecord:
        """Audit run_resumed, then (`reopen`) mark the run running again in the store."""
        run = self.store.get_run(self.run_id)  # RunNotFound before anything is written
        self.event(AuditKind.RUN_RESUMED, now, result=RunStatus.RUNNING.value, detail=detail)
        if not reopen:
            return run
        return self.store.set_run_status(self.run_id, RunStatus.RUNNING, now, status_detail)

    def run_status(
        self, status: RunStatus, now: datetime, detail: str = "", *, audit_lost: bool = False
    ) -> RunRecord:
        """Audit the run's new status, then store it. `audit_lost`: the audit log is what failed; the
        store takes the status even when the log does not take its record."""
        if not self._exists():
            raise RunNotFound(self.run_id)
        try:
            self.event(
                AuditKind.RUN_STATUS, now, result=status.value, detail={"detail": detail} if detail else None
            )
        except AuditError:
            if not audit_lost:
                raise
        return self.store.set_run_status(self.run_id, status, now, detail)

    def _exists(self) -> bool:
        try:
            self.store.get_run(self.run_id)
        except RunNotFound:
            return False
        return True

    # -- hosts -------------------------------------------------------------------------------------

    def register_hosts(
        self, hosts: Mapping[str, int], now: datetime, tags: Mapping[str, PatchTags] | None = None
    ) -> list[HostStateRecord]:
        """Add the run's hosts (host -> wave) as pending in one store transaction (all or none); each host's
        intent is audited once it is validated (new in the run), before its rows are written. `tags`:
        host -> its audit records' patch fields."""

        def audit(host: str) -> None:
            patch_id, artifact_sha256 = (tags or {}).get(host, (None, None))
            self.event(
                AuditKind.TRANSITION,
                now,
                host=host,
                wave=hosts[host],
                patch_id=patch_id,
                artifact_sha256=artifact_sha256,
                result=HostState.PENDING.value,
                detail={"from": None, "message": ""},
            )

        return self.store.register_hosts(self.run_id, hosts, now, before_write=audit)

    def transition(
        self,
        host: str,
        wave: int,
        to_state: HostState,
        phase: Phase | None = None,
        detail: str = "",
        *,
        now: datetime,
        expect: Iterable[HostState | None] | None = None,
        backup_id: str | None = None,
        versions_before: Mapping[str, str] | None = None,
        versions_after: Mapping[str, str] | None = None,
        patch_id: str | None = None,
        artifact_sha256: str | None = None,
        audit_detail: Mapping[str, Any] | None = None,
    ) -> HostStateRecord:
        """Validate, audit, then store a host transition, in one store transaction: validated once (the
        host's state as the store has it, `expect`, `can_transition`), then the audit intent appended
        (fsynced), then the rows written. Raises `IllegalTransition` / `StateConflict` before anything is
        written; if the audit append fails, the store is not written."""

        def audit(current: HostState | None) -> None:
            self.event(
                AuditKind.TRANSITION,
                now,
                host=host,
                wave=wave,
                phase=phase,
                patch_id=patch_id,
                artifact_sha256=artifact_sha256,
                result=to_state.value,
                detail={
                    "from": current.value if current else None,
                    "message": detail,
                    **(audit_detail or {}),
                },
            )

        return self.store.transition(
            self.run_id,
            host,
            wave,
            to_state,
            phase,
            detail,
            now=now,
            expect=expect,
            backup_id=backup_id,
            versions_before=versions_before,
            versions_after=versions_after,
            before_write=audit,
        )

    # -- what phases leave -------------------------------------------------------------------------

    def phase_result(
        self, wave: int, result: PhaseResult, started_at: datetime, finished_at: datetime
    ) -> None:
        """Store a phase result and audit its verdict (failed check names, not raw values) with the digest
        of the host's task events of this run as stored now: this job's and every earlier one's, those
        of a job a crash cut short included."""
        self.store.record_phase_result(self.run_id, wave, result, started_at, finished_at)
        events = task_events_digest(self.store.task_events(self.run_id, result.host))
        self.event(
            AuditKind.PHASE_RESULT,
            finished_at,
            host=result.host,
            wave=wave,
            phase=result.phase,
            result="ok" if result.ok else "failed",
            detail={
                "outcome": result.outcome.value,
                "failed_checks": [c.name for c in result.failed_checks],
                "failed_task": result.failed_task,
                "backup_id": result.backup_id,
                "versions_before": result.versions_before,
                "versions_after": result.versions_after,
                "task_events": events,
            },
        )

    def task_event(
        self, wave: int, host: str, phase: Phase, task: str, status: str, changed: bool, now: datetime
    ) -> None:
        """One task result as it arrives (store only: names and statuses, no arguments or output; the
        host's next phase-result audit record carries its digest)."""
        self.store.record_task_event(self.run_id, wave, host, phase, task, status, changed, now)

    def baseline(self, host: str, scan: PhaseResult | Mapping[str, Any], now: datetime) -> BaselineRecord:
        """A host's scan saved as its baseline, tagged with this run (store only: the scan's phase result is
        what the audit carries)."""
        return self.store.save_baseline(host, scan, now, run_id=self.run_id)

    # -- the patch history ---------------------------------------------------------------------------

    def recorded_installs(self, host: str) -> set[str]:
        """The patch ids this run recorded as installed on `host` (reversed ones too): the dedup of
        `patch_installed` across crashes and resumes."""
        return {
            p.patch_id
            for p in self.store.patch_history(host, include_reversed=True)
            if p.run_id == self.run_id
        }

    def patch_installed(
        self,
        host: str,
        wave: int,
        patch_id: str,
        package: str | None,
        from_version: str | None,
        to_version: str | None,
        now: datetime,
        *,
        target_version: str | None = None,
        tags: PatchTags = (None, None),
    ) -> bool:
        """Audit, then store, that `patch_id` is installed on `host` by this run; once per run (False:
        it was recorded already, nothing written)."""
        if patch_id in self.recorded_installs(host):
            return False
        self.event(
            AuditKind.PATCH_INSTALLED,
            now,
            host=host,
            wave=wave,
            phase=Phase.INSTALL,
            patch_id=tags[0],
            artifact_sha256=tags[1],
            result="installed",
            detail={"patch": patch_id, "package": package, "to_version": target_version or to_version},
        )
        self.store.record_installed_patch(
            asset=host,
            patch_id=patch_id,
            package=package,
            from_version=from_version,
            to_version=to_version,
            run_id=self.run_id,
            operator=self.operator,
            at=now,
        )
        return True

    def patches_reversed(
        self,
        host: str,
        wave: int,
        now: datetime,
        patch_ids: Iterable[str] | None,
        reason: str,
        *,
        tags: PatchTags = (None, None),
    ) -> list[str]:
        """A rollback undid the host's installs of this run (`patch_ids`: only these): audit, then mark
        them reversed in the patch history. Returns the patch ids (none: nothing written)."""
        wanted = None if patch_ids is None else set(patch_ids)
        effective = [
            p.patch_id
            for p in self.store.patch_history(host)
            if p.run_id == self.run_id and (wanted is None or p.patch_id in wanted)
        ]
        if not effective:
            return []
        self.event(
            PATCH_REVERSED,
            now,
            host=host,
            wave=wave,
            phase=Phase.ROLLBACK,
            patch_id=tags[0],
            artifact_sha256=tags[1],
            result="reversed",
            detail={"patches": effective, "reason": reason},
        )
        return self.store.reverse_installed_patches(
            host, self.run_id, self.run_id, self.operator, now, effective
        )
