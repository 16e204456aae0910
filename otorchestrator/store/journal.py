"""One place that writes a run's facts to both the state store and the audit trail, in a safe order.

A transition is checked against the store, appended (fsynced) to the audit log as the intent, then
committed to the store; only then may the caller start the action. A crash between the two writes leaves
the store at the previous state, so the action had not started: resuming from the store is correct, and
the audit shows the intent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import AuditEvent, AuditKind, HostState, HostStateRecord, can_transition
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.errors import IllegalTransition, StateConflict
from otorchestrator.store.state import StateStore


class RunJournal:
    """The store and audit log of one run, seen by one operator. Hold the run lock while using it."""

    def __init__(self, store: StateStore, audit: AuditLog, run_id: str, operator: str) -> None:
        self.store = store
        self.audit = audit
        self.run_id = run_id
        self.operator = operator

    def event(
        self,
        kind: str,
        now: datetime,
        *,
        host: str | None = None,
        wave: int | None = None,
        phase: Phase | None = None,
        patch_id: str | None = None,
        artifact_sha256: str | None = None,
        result: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one audit event of this run (durable when it returns)."""
        return self.audit.append(
            AuditEvent(
                at=now,
                operator=self.operator,
                kind=kind,
                run_id=self.run_id,
                host=host,
                wave=wave,
                phase=phase,
                patch_id=patch_id,
                artifact_sha256=artifact_sha256,
                result=result,
                detail=dict(detail or {}),
            )
        )

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
        """Check, audit, then store a host transition. Raises `IllegalTransition` / `StateConflict` before
        anything is written."""
        old = self.store.host_state(self.run_id, host)
        current = old.state if old else None
        allowed = None if expect is None else frozenset(expect)
        if allowed is not None and current not in allowed:
            raise StateConflict(self.run_id, host, ", ".join(sorted(map(str, allowed))), current)
        if not can_transition(current, to_state):
            raise IllegalTransition(self.run_id, host, current, to_state)
        self.event(
            AuditKind.TRANSITION,
            now,
            host=host,
            wave=wave,
            phase=phase,
            patch_id=patch_id,
            artifact_sha256=artifact_sha256,
            result=to_state.value,
            detail={"from": current.value if current else None, "message": detail, **(audit_detail or {})},
        )
        return self.store.transition(
            self.run_id,
            host,
            wave,
            to_state,
            phase,
            detail,
            now=now,
            expect=[current],
            backup_id=backup_id,
            versions_before=versions_before,
            versions_after=versions_after,
        )

    def phase_result(
        self, wave: int, result: PhaseResult, started_at: datetime, finished_at: datetime
    ) -> None:
        """Store a phase result and audit its verdict (failed check names, not raw values)."""
        self.store.record_phase_result(self.run_id, wave, result, started_at, finished_at)
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
            },
        )
