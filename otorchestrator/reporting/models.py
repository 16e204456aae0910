"""What the reports hold: plain data, built by `build` / `compliance`, rendered by `render`.

Free text in these models (check details, messages, output excerpts) has been through the report
redactor (`reporting.redact`): a report never carries a secret.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.results import HostOutcome, Phase
from otorchestrator.models.run import HostState, RunStatus
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


# -- compliance ------------------------------------------------------------------------------------


class PatchStatus(StrEnum):
    INSTALLED = "installed"  # installed and verified, in effect
    PENDING = "pending"  # not attempted yet (held, not yet in a run, outside the waves)
    FAILED = "attempted_failed"  # attempted, failed, not rolled back cleanly
    ROLLED_BACK = "rolled_back"  # attempted, failed (or reversed), rolled back: not in effect
    EXEMPT = "exempt"  # a dated mitigation plan (exemption with compensating controls) covers it
    BLOCKED = "blocked"  # the plan keeps it out (e.g. not vendor-tested): the clock still runs

    @property
    def clock_runs(self) -> bool:
        """Whether the apply-or-mitigate clock runs for an item in this state."""
        return self not in (PatchStatus.INSTALLED, PatchStatus.EXEMPT)


class FlagLevel(StrEnum):
    VIOLATION = "violation"
    WARNING = "warning"
    INFO = "info"


class Flag(BaseModel):
    model_config = _FROZEN

    code: str  # e.g. EVALUATION_OVERDUE
    rule: str  # e.g. "CIP-007 R2.2 (style)"
    level: FlagLevel
    message: str
    subject: str = ""  # patch id, when the flag is about one patch


class ExemptionInfo(BaseModel):
    model_config = _FROZEN

    id: str
    reason: str
    compensating_controls: tuple[str, ...]
    approver: str
    expires: datetime
    expired: bool
    days_left: int


class InstalledInfo(BaseModel):
    model_config = _FROZEN

    run_id: str
    operator: str
    at: datetime
    from_version: str | None
    to_version: str | None


class AttemptRef(BaseModel):
    """One attempt of a patch on an asset, as the compliance report names it."""

    model_config = _FROZEN

    run_id: str
    wave: str | None
    at: datetime
    outcome: str
    reason: str


class RollbackTest(BaseModel):
    """A rollback that proved the way back: a real one in a run, or a drill."""

    model_config = _FROZEN

    kind: str  # "rollback" (in a run) | "drill"
    run_id: str
    at: datetime
    patches: tuple[str, ...]
    passed: bool
    detail: str = ""


class PatchLine(BaseModel):
    model_config = _FROZEN

    patch_id: str
    cves: tuple[str, ...]
    decision: str
    status: PatchStatus
    package: str | None = None
    target_version: str | None = None
    in_kev: bool = False
    cvss_max: float | None = None
    due: datetime | None = None  # apply or have a dated mitigation plan by then (None: no clock runs)
    due_rule: str = ""  # which clock: "35-day apply-or-mitigate", "KEV (policy 14 days)", ...
    days_left: int | None = None  # negative: the clock ran out
    kev_due: date | None = None  # the KEV catalog's own due date (shown; CISA's for federal agencies)
    installed: InstalledInfo | None = None
    exemption: ExemptionInfo | None = None
    attempts: tuple[AttemptRef, ...] = ()
    reason: str = ""

    @property
    def clock_running(self) -> bool:
        return self.due is not None and self.days_left is not None and self.days_left >= 0


class AssetCompliance(BaseModel):
    model_config = _FROZEN

    asset: str
    zone: str
    criticality: str
    safety_system: bool
    baseline_at: datetime | None
    baseline_age_days: int | None
    last_evaluation: datetime | None
    days_since_evaluation: int | None
    patches: tuple[PatchLine, ...]
    history: tuple[InstalledInfo, ...] = ()
    flags: tuple[Flag, ...] = ()
    rollback_tests: tuple[RollbackTest, ...] = ()

    def count(self, status: PatchStatus | str) -> int:
        return sum(1 for p in self.patches if p.status == status)

    @property
    def compliant(self) -> bool:
        return not any(f.level is FlagLevel.VIOLATION for f in self.flags)


class EvidenceStep(BaseModel):
    model_config = _FROZEN

    asset: str
    patch_id: str
    decision: str
    why: str = ""  # the plan's reasons for the decision
    install: str | None = None  # "1.0.0 -> 1.1.0 in run R at ..." / "attempted in run R: ..."
    rollback: str | None = None  # a rollback in a run: when, result
    state_now: str = ""  # installed / rolled back / pending / exempt / blocked
    wave: str | None = None  # "run R, wave 1 (wave-1)", or None when not staged
    verification: str | None = None  # "ok at ..." / "failed: check ..." / None
    verified: bool | None = None
    rollback_tested: bool | None = None  # a passing rollback drill of this patch on this asset
    rollback_evidence: str | None = None
    # False: a drill_result was found but the audit chain it was read from does not verify, so it is not
    # counted (rollback_tested is None and the evidence says "unverified: audit chain broken at ...")
    rollback_verified: bool | None = None
    installed: bool = False


class CveEvidence(BaseModel):
    model_config = _FROZEN

    cve: str
    in_kev: bool = False
    cvss_max: float | None = None
    steps: tuple[EvidenceStep, ...]


class ComplianceReport(BaseModel):
    model_config = _FROZEN

    report: str = "compliance"
    schema_version: int = 2
    generated_at: datetime
    evaluation_days: int
    kev_days: int | None = None
    immediate_days: int | None = None
    plan_hash: str | None
    plan_created_at: datetime | None
    assets: tuple[AssetCompliance, ...]
    evidence: tuple[CveEvidence, ...]
    notes: tuple[str, ...] = ()
    audit_verified: bool | None = None  # None: no audit log to check
    audit_head_seq: int | None = None
    audit_problems: tuple[str, ...] = ()

    def running_clocks(self) -> list[tuple[str, PatchLine]]:
        """(asset, patch line) of every clock still running, earliest due first."""
        found = [(a.asset, p) for a in self.assets for p in a.patches if p.clock_running]
        return sorted(found, key=lambda ap: (ap[1].due or self.generated_at, ap[0], ap[1].patch_id))

    def summary(self) -> dict[str, Any]:
        return {
            "assets": len(self.assets),
            "clocks_running": len(self.running_clocks()),
            "compliant": sum(1 for a in self.assets if a.compliant),
            "violations": sum(1 for a in self.assets for f in a.flags if f.level is FlagLevel.VIOLATION),
            "warnings": sum(1 for a in self.assets for f in a.flags if f.level is FlagLevel.WARNING),
        }
