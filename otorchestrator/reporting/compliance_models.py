"""What the compliance report holds: plain data, built by `reporting.compliance` (the per-asset patch lines,
flags and rollback tests) and `reporting.evidence` (the evidence chain per CVE), rendered by `render`.

Free text in these models has been through the report redactor (`reporting.redact`): a report never
carries a secret.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

_FROZEN = ConfigDict(frozen=True)


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
