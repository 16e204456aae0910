"""What every writer of a run's facts starts from (store/journal.py): the run's store and audit log, and
the audit-only records. `JournalWaves` adds the writers of waves and soaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditEvent
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.backfill import SOAK_FINISHED, SOAK_STARTED
from otorchestrator.store.state import StateStore

# audit kinds the journal writes besides the models' AuditKind (AuditEvent.kind is a free string)
RUN_REFUSED = "run_refused"
WAVE_STARTED = "wave_started"
WAVE_FINISHED = "wave_finished"
WAVE_HALTED = "wave_halted"


class JournalBase:
    """The store and audit log of one run, seen by one operator. Hold the run lock while using it."""

    def __init__(self, store: StateStore, audit: AuditLog, run_id: str, operator: str) -> None:
        self.store = store
        self.audit = audit
        self.run_id = run_id
        self.operator = operator

    # -- audit-only records ------------------------------------------------------------------------

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
        """Append one audit event of this run (durable when it returns). The store's lock is taken first
        (a transition holds it already): store, then audit log, for every journal write."""
        with self.store.locked():
            return self._append(kind, now, host, wave, phase, patch_id, artifact_sha256, result, detail)

    def _append(
        self,
        kind: str,
        now: datetime,
        host: str | None,
        wave: int | None,
        phase: Phase | None,
        patch_id: str | None,
        artifact_sha256: str | None,
        result: str | None,
        detail: Mapping[str, Any] | None,
    ) -> AuditEvent:
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

    def refused(self, now: datetime, reason: str, problems: Sequence[str]) -> AuditEvent:
        """Nothing was started for this run id: only the audit log says why (the store has no record)."""
        return self.event(
            RUN_REFUSED, now, result="refused", detail={"reason": reason, "problems": list(problems)}
        )


class JournalWaves(JournalBase):
    # -- waves ---------------------------------------------------------------------------------------

    def wave_started(
        self, wave: int, name: str, budget: int, counts_blocked: bool, hosts: Sequence[str], now: datetime
    ) -> int:
        """Audit, then store, that a wave starts; returns its row in the waves table."""
        self.event(
            WAVE_STARTED,
            now,
            wave=wave,
            result="started",
            detail={
                "name": name,
                "hosts": list(hosts),
                "failure_budget": budget,
                "budget_counts_blocked": counts_blocked,
            },
        )
        return self.store.wave_started(self.run_id, wave, name, budget, counts_blocked, now)

    def wave_finished(
        self, wave: int, row_id: int, outcome: str, reason: str, now: datetime, *, halted: bool
    ) -> None:
        """After the wave's last phase: audit wave_finished (wave_halted when `halted`), then the store."""
        kind = WAVE_HALTED if halted else WAVE_FINISHED
        self.event(kind, now, wave=wave, result=outcome, detail={"reason": reason} if reason else None)
        self.store.wave_finished(row_id, now, outcome, reason)

    def wave_refused(
        self,
        wave: int,
        name: str,
        budget: int,
        counts_blocked: bool,
        outcome: str,
        reason: str,
        now: datetime,
    ) -> int:
        """A wave that a halt (or abort) keeps from starting: audit wave_halted, then the store."""
        self.event(WAVE_HALTED, now, wave=wave, result=outcome, detail={"reason": reason, "started": False})
        return self.store.wave_started(
            self.run_id, wave, name, budget, counts_blocked, None, outcome=outcome, detail=reason
        )

    # -- soaks ---------------------------------------------------------------------------------------

    def soak_started(self, wave: int, minutes: Mapping[str, float], interval_s: int, now: datetime) -> int:
        """Audit, then store, that the wave's hosts soak (host -> minutes); returns the soak's row."""
        self.event(
            SOAK_STARTED,
            now,
            wave=wave,
            result="started",
            detail={"hosts": dict(minutes), "interval_s": interval_s},
        )
        return self.store.soak_started(self.run_id, wave, now)

    def soak_finished(
        self,
        wave: int,
        row_id: int,
        outcome: str,
        rounds: int,
        now: datetime,
        failed: Mapping[str, str] | None = None,
    ) -> None:
        """Audit, then store, how the soak ended (ok, failed: host -> why, aborted)."""
        detail: dict[str, Any] = {"rounds": rounds}
        if failed is not None:
            detail["failed"] = dict(failed)
        self.event(SOAK_FINISHED, now, wave=wave, result=outcome, detail=detail)
        self.store.soak_finished(row_id, now, outcome, rounds)
