"""A run and its hosts: the per-host state machine, run status, and the records the store and audit keep.

No I/O here. The store (`otorchestrator.store.state`) persists these; the audit log
(`otorchestrator.store.audit`) chains `AuditEvent`s.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.results import Phase, PhaseResult


class HostState(StrEnum):
    PENDING = "pending"
    DIAGNOSING = "diagnosing"
    BACKING_UP = "backing_up"
    INSTALLING = "installing"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"  # diagnostics failed: never installed
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"  # operator attention
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"  # exempt / outside window / budget spent
    NEEDS_RECONCILE = "needs_reconcile"  # found mid-step after a crash: re-probe before acting

    @property
    def terminal(self) -> bool:
        """The orchestrator is done with the host in this pass.

        Leaving a terminal state is an operator action (rollback of a succeeded host, retry on resume),
        still limited to the transitions in `ALLOWED_TRANSITIONS`.
        """
        return self in TERMINAL_STATES

    @property
    def active(self) -> bool:
        """A step is (or may be) under way on the host: a crash here leaves it needing reconciliation."""
        return self in ACTIVE_STATES


TERMINAL_STATES: frozenset[HostState] = frozenset(
    {
        HostState.SUCCEEDED,
        HostState.BLOCKED,
        HostState.FAILED,
        HostState.ROLLED_BACK,
        HostState.ROLLBACK_FAILED,
        HostState.UNREACHABLE,
        HostState.TIMED_OUT,
        HostState.SKIPPED,
    }
)

ACTIVE_STATES: frozenset[HostState] = frozenset(
    {
        HostState.DIAGNOSING,
        HostState.BACKING_UP,
        HostState.INSTALLING,
        HostState.VERIFYING,
        HostState.ROLLING_BACK,
    }
)

# States a host may enter when it is first registered in a run.
INITIAL_STATES: frozenset[HostState] = frozenset({HostState.PENDING, HostState.SKIPPED})

_S = HostState
_LOST = (_S.UNREACHABLE, _S.TIMED_OUT, _S.NEEDS_RECONCILE)  # a step can always lose its host or crash

ALLOWED_TRANSITIONS: dict[HostState, frozenset[HostState]] = {
    _S.PENDING: frozenset({_S.DIAGNOSING, _S.SKIPPED, _S.UNREACHABLE, _S.TIMED_OUT, _S.FAILED}),
    _S.DIAGNOSING: frozenset({_S.BACKING_UP, _S.BLOCKED, _S.FAILED, _S.SKIPPED, *_LOST}),
    # a backup failure leaves the host untouched: failed, nothing to roll back
    _S.BACKING_UP: frozenset({_S.INSTALLING, _S.FAILED, _S.SKIPPED, *_LOST}),
    _S.INSTALLING: frozenset({_S.VERIFYING, _S.ROLLING_BACK, _S.FAILED, *_LOST}),
    _S.VERIFYING: frozenset({_S.SUCCEEDED, _S.ROLLING_BACK, _S.FAILED, *_LOST}),
    _S.ROLLING_BACK: frozenset({_S.ROLLED_BACK, _S.ROLLBACK_FAILED, *_LOST}),
    # after a re-probe the host lands wherever the probe says it is; installing is not reachable
    # directly (no host is installed twice without new diagnostics)
    _S.NEEDS_RECONCILE: frozenset(
        {
            _S.PENDING,
            _S.DIAGNOSING,
            _S.VERIFYING,
            _S.ROLLING_BACK,
            _S.SUCCEEDED,
            _S.BLOCKED,
            _S.FAILED,
            _S.ROLLED_BACK,
            _S.ROLLBACK_FAILED,
            _S.UNREACHABLE,
            _S.TIMED_OUT,
            _S.SKIPPED,
        }
    ),
    # operator actions out of terminal states
    _S.SUCCEEDED: frozenset({_S.ROLLING_BACK}),  # `otorch rollback` of a patched host
    _S.FAILED: frozenset({_S.ROLLING_BACK, _S.NEEDS_RECONCILE}),
    _S.ROLLBACK_FAILED: frozenset({_S.ROLLING_BACK, _S.NEEDS_RECONCILE}),
    _S.UNREACHABLE: frozenset({_S.PENDING, _S.NEEDS_RECONCILE, _S.SKIPPED}),  # retry on resume
    _S.TIMED_OUT: frozenset({_S.NEEDS_RECONCILE, _S.SKIPPED}),  # state unknown: re-probe first
    _S.SKIPPED: frozenset({_S.PENDING}),  # e.g. its window opened on resume
    _S.BLOCKED: frozenset({_S.PENDING}),  # diagnostics fixed on site, retry on resume
    _S.ROLLED_BACK: frozenset(),
}


def can_transition(current: HostState | None, target: HostState) -> bool:
    """Whether a host may go from `current` (None: not yet in the run) to `target`."""
    if current is None:
        return target in INITIAL_STATES
    return target in ALLOWED_TRANSITIONS[current]


class RunStatus(StrEnum):
    RUNNING = "running"
    HALTED = "halted"  # a failure budget was spent or an operator paused: waits for an operator
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.ABORTED, RunStatus.FAILED)


class RunRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    operator: str
    waveplan_hash: str
    plan_hash: str
    started_at: datetime
    status: RunStatus = RunStatus.RUNNING
    status_detail: str = ""
    finished_at: datetime | None = None
    check_mode: bool = False
    waveplan_path: str | None = None
    plan_path: str | None = None
    inventory_path: str | None = None


class HostStateRecord(BaseModel):
    """Where one host of one run stands now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    wave: int
    host: str
    state: HostState
    phase: Phase | None = None
    updated_at: datetime
    detail: str = ""
    backup_id: str | None = None
    versions_before: dict[str, str] = Field(default_factory=dict)
    versions_after: dict[str, str] = Field(default_factory=dict)
    diagnose_attempts: int = 0
    install_attempts: int = 0
    verify_attempts: int = 0
    rollback_attempts: int = 0


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    host: str
    wave: int
    from_state: HostState | None
    to_state: HostState
    phase: Phase | None = None
    at: datetime
    detail: str = ""


class PhaseResultRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    wave: int
    started_at: datetime
    finished_at: datetime
    result: PhaseResult


class InstalledPatchRecord(BaseModel):
    """One patch that reached a host (verified), kept across runs: the asset's patch history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset: str
    patch_id: str
    package: str | None
    from_version: str | None
    to_version: str | None
    run_id: str
    operator: str
    at: datetime


class BaselineRecord(BaseModel):
    """A scan of an asset taken as its known-good baseline (for drift detection)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset: str
    at: datetime
    data: dict[str, Any]
    run_id: str | None = None


class AuditKind(StrEnum):
    """Common audit event kinds; `AuditEvent.kind` is a free string so new kinds need no model change."""

    RUN_STARTED = "run_started"
    RUN_STATUS = "run_status"
    RUN_RESUMED = "run_resumed"
    LOCK_ACQUIRED = "lock_acquired"
    LOCK_RELEASED = "lock_released"
    TRANSITION = "transition"
    PHASE_STARTED = "phase_started"
    PHASE_RESULT = "phase_result"
    PATCH_INSTALLED = "patch_installed"
    OPERATOR_ACTION = "operator_action"
    AUDIT_REPAIRED = "audit_repaired"


GENESIS_HASH = "sha256:" + "0" * 64


class AuditEvent(BaseModel):
    """One line of the audit log. `seq`, `prev_hash` and `hash` are filled in by the audit log on append."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = 0
    at: datetime
    operator: str
    kind: str
    run_id: str | None = None
    host: str | None = None
    wave: int | None = None
    phase: Phase | None = None
    patch_id: str | None = None
    artifact_sha256: str | None = None
    result: str | None = None  # e.g. ok | failed | refused | the new state
    detail: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""


class AuditHead(BaseModel):
    """The last record of the audit chain, kept in the state store so a truncated tail is detected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    hash: str
