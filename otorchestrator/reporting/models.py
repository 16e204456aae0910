"""What the run report holds: plain data, built by `build`, rendered by `render`. The compliance report's
models are in `reporting.compliance_models` (its ComplianceReport is re-exported here, for the callers
that load either report).

Free text in these models (check details, messages, output excerpts) has been through the report
redactor (`reporting.redact`): a report never carries a secret.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.results import HostOutcome, Phase
from otorchestrator.models.run import HostState, RunStatus
from otorchestrator.reporting.compliance_models import ComplianceReport as ComplianceReport
from otorchestrator.reporting.timeline import WindowTimeline

_FROZEN = ConfigDict(frozen=True)


# -- run report ------------------------------------------------------------------------------------


class PhaseTiming(BaseModel):
    model_config = _FROZEN

    phase: Phase
    started_at: datetime
    finished_at: datetime
    duration_s: float
    ok: bool
    outcome: HostOutcome
    failed_checks: tuple[str, ...] = ()


class FailedCheck(BaseModel):
    model_config = _FROZEN

    name: str
    value: str = ""
    threshold: str = ""
    detail: str = ""


class FailureEntry(BaseModel):
    """One failed phase (or a host that ended failed without a phase result)."""

    model_config = _FROZEN

    host: str
    wave: int
    phase: Phase | None
    at: datetime | None
    outcome: str
    checks: tuple[FailedCheck, ...] = ()
    failed_task: str = ""
    excerpt: str = ""  # redacted and cut to `EXCERPT_CHARS`


class RollbackEntry(BaseModel):
    model_config = _FROZEN

    host: str
    wave: int
    from_state: HostState | None  # where the host was when the rollback started
    reason: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    final_state: HostState
    ok: bool


class EvidenceStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_RECORDED = "not_recorded"  # the run kept no record of it: said so, never assumed
    NOT_NEEDED = "not_needed"
    NOT_RUN = "not_run"  # the host never reached this step
    SKIPPED = "skipped"  # turned off by the operator (on the audit record)


class EvidenceLine(BaseModel):
    model_config = _FROZEN

    name: str  # the check's name, or what the line is about ("approval", a patch id)
    ok: bool | None = None
    text: str  # one sentence with its values


class EvidenceSection(BaseModel):
    """One kind of evidence for one host: diagnostics, backup, approvals, artifact, verification, rollback."""

    model_config = _FROZEN

    kind: str
    status: EvidenceStatus
    summary: str
    at: datetime | None = None
    lines: tuple[EvidenceLine, ...] = ()

    def details(self) -> tuple[EvidenceLine, ...]:
        """The lines the summary does not already say (each sentence is shown once)."""
        return tuple(line for line in self.lines if line.text not in self.summary)


class HostCve(BaseModel):
    model_config = _FROZEN

    cve: str
    patch_id: str
    decision: str  # the plan's decision for this patch on this host
    in_kev: bool = False
    cvss_max: float | None = None
    status: str  # what this run did about it: "fixed (verified)", "not fixed: rolled back", ...


class VersionChange(BaseModel):
    model_config = _FROZEN

    package: str
    before: str | None = None
    attempted: str | None = None  # the target version the run tried to install
    after: str | None = None  # the version at the end (after a rollback: the restored one)
    text: str  # "nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0"


class HostRow(BaseModel):
    model_config = _FROZEN

    host: str
    wave: int
    state: HostState
    detail: str = ""
    patches: tuple[str, ...] = ()
    versions_before: dict[str, str] = Field(default_factory=dict)
    versions_after: dict[str, str] = Field(default_factory=dict)
    phases: tuple[PhaseTiming, ...] = ()
    total_s: float = 0.0
    cves: tuple[HostCve, ...] = ()
    changes: tuple[VersionChange, ...] = ()
    evidence: tuple[EvidenceSection, ...] = ()

    def section(self, kind: str) -> EvidenceSection | None:
        return next((s for s in self.evidence if s.kind == kind), None)

    @property
    def ok(self) -> bool:
        return self.state in (HostState.SUCCEEDED, HostState.SKIPPED)

    def phase_seconds(self, phase: Phase) -> float | None:
        found = [p.duration_s for p in self.phases if p.phase is phase]
        return sum(found) if found else None


class WaveRow(BaseModel):
    model_config = _FROZEN

    index: int
    name: str
    started_at: datetime | None
    finished_at: datetime | None
    hosts: tuple[str, ...]
    states: dict[str, int]  # state -> hosts in it
    failure_budget: int | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class AuditSummary(BaseModel):
    model_config = _FROZEN

    head_seq: int | None
    head_hash: str | None
    store_head_seq: int | None = None
    store_head_hash: str | None = None
    verified: bool | None = None  # None: not checked
    records: int = 0
    problems: tuple[str, ...] = ()
    run_events: int = 0


class OutsideRow(BaseModel):
    """An asset of the plan that the run did not patch: held (approval, dependency) or left out (exempt,
    blocked by the plan, deferred), with the reason and its CVEs."""

    model_config = _FROZEN

    host: str
    placement: str  # held | exempt | blocked | excluded
    patches: tuple[str, ...]
    cves: tuple[str, ...] = ()
    reason: str


class RunReport(BaseModel):
    model_config = _FROZEN

    report: str = "run"
    schema_version: int = 2
    generated_at: datetime
    run_id: str
    operator: str
    status: RunStatus
    status_detail: str = ""
    check_mode: bool = False
    started_at: datetime
    finished_at: datetime | None
    plan_hash: str
    waveplan_hash: str
    waves: tuple[WaveRow, ...]
    hosts: tuple[HostRow, ...]
    failures: tuple[FailureEntry, ...]  # failed phases of hosts that failed (not of blocked hosts)
    rollbacks: tuple[RollbackEntry, ...]
    state_counts: dict[str, int]
    audit: AuditSummary
    notes: tuple[str, ...] = ()
    outside: tuple[OutsideRow, ...] = ()  # the plan's assets not in any wave of the run
    timeline: WindowTimeline | None = None  # per asset: windows, planned slot, phases (reporting.timeline)
    # hosts refused by diagnostics before anything changed (blocked): not failures, listed apart
    refusals: tuple[FailureEntry, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
