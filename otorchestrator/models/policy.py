"""The wave policy: the site's rules for staging a rollout. Every default is conservative and documented
in docs/waves.md; a site overrides them in a policy YAML file (see planning/policy.py)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from otorchestrator.models.asset import Criticality, Role
from otorchestrator.models.plan import Approval, Decision, content_hash


class RiskKey(StrEnum):
    """One component of the risk order; waves go from low to high risk."""

    CRITICALITY = "criticality"  # low first, critical last
    SAFETY_SYSTEM = "safety_system"  # non-safety first
    PURDUE_LEVEL = "purdue_level"  # far from the process first: level 5 first, level 0 last
    PRIORITY = "priority"  # the plan's most urgent items first


class CanaryKey(StrEnum):
    """A component of the combination the canary waves cover."""

    ROLE = "role"
    OS = "os"
    PATCH = "patch"
    ZONE = "zone"
    SITE = "site"


class FailureBudgetPolicy(BaseModel):
    """How many hosts of a wave may fail with the rollout continuing: `hosts` or `percent`, not both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hosts: int | None = Field(default=None, ge=0)
    percent: float | None = Field(default=None, ge=0, le=100)
    count_blocked: bool = False  # a host refused by diagnostics was never changed: count it too?

    @model_validator(mode="after")
    def _one_of(self) -> FailureBudgetPolicy:
        if self.hosts is not None and self.percent is not None:
            raise ValueError("give either hosts or percent, not both")
        return self

    def for_wave(self, size: int) -> int:
        """The number of failed hosts a wave of `size` hosts tolerates (percent rounds down)."""
        if self.percent is not None:
            return int(size * self.percent // 100)
        return self.hosts if self.hosts is not None else 0


class CanaryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    cover: tuple[CanaryKey, ...] = (CanaryKey.ROLE, CanaryKey.OS, CanaryKey.PATCH)
    max_criticality: Criticality | None = Criticality.MEDIUM  # no canary above this (None: no limit)
    failure_budget: FailureBudgetPolicy | None = None  # None: the rollout's failure budget


class ComplianceDeadlines(BaseModel):
    """The apply-or-mitigate clocks of the compliance report (docs/reports.md), in days from the evaluation
    (the plan): every applicable patch has `apply_days`; a site may set shorter clocks for KEV-listed items
    and for items the plan rates `immediate`. Past its clock, an item neither applied nor mitigated is a
    violation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    apply_days: int = Field(default=35, ge=1, le=366)
    kev_days: int | None = Field(default=None, ge=1, le=366)
    immediate_days: int | None = Field(default=None, ge=1, le=366)


class SoakPolicy(BaseModel):
    """Bake time after a wave verified (execution/soak.py): each patched host soaks for its role's minutes
    (`by_role`, else `minutes`) while the verify checks run again every `interval_seconds`; a failure rolls
    that host back and halts the later waves. 0 minutes: no soak (the default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    minutes: float = Field(default=0, ge=0, le=24 * 60, allow_inf_nan=False)
    by_role: dict[Role, float] = Field(default_factory=dict)
    interval_seconds: int = Field(default=60, ge=1, le=3600)

    @field_validator("by_role")
    @classmethod
    def _minutes_in_range(cls, value: dict[Role, float]) -> dict[Role, float]:
        bad = [f"{role.value}: {m}" for role, m in value.items() if not 0 <= m <= 24 * 60]
        if bad:
            raise ValueError(f"soak minutes must be between 0 and 1440: {', '.join(bad)}")
        return value

    def minutes_for(self, role: Role | str) -> float:
        return next((m for r, m in self.by_role.items() if r.value == str(role)), self.minutes)


class WavePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    risk_order: tuple[RiskKey, ...] = (RiskKey.CRITICALITY, RiskKey.SAFETY_SYSTEM, RiskKey.PURDUE_LEVEL)
    tier_keys: int = Field(default=1, ge=0)  # hosts in one wave share the first N risk_order keys
    max_hosts_per_wave: int = Field(default=10, ge=1)
    max_hosts_per_zone_per_wave: int = Field(default=2, ge=1)
    include_decisions: tuple[Decision, ...] = (Decision.IMMEDIATE, Decision.OUT_OF_CYCLE, Decision.SCHEDULED)
    approval_from_criticality: Criticality | None = Criticality.HIGH  # this and above need an approval
    approval_for_safety_systems: bool = True
    approvals: tuple[Approval, ...] = ()  # kind "asset", subject = asset name
    start_delay_minutes: int = Field(default=0, ge=0)  # the first wave starts this long after `now`
    gap_minutes: int = Field(default=0, ge=0)  # between one wave's slot end and the next slot start
    host_overhead_minutes: int = Field(default=0, ge=0)  # diagnostics + backup + verify, per host
    horizon_hours: int = Field(default=168, ge=1)  # no slot starts later than now + horizon
    failure_budget: FailureBudgetPolicy = FailureBudgetPolicy(hosts=0)
    canary: CanaryPolicy = CanaryPolicy()
    compliance: ComplianceDeadlines = ComplianceDeadlines()  # read by the compliance report only
    soak: SoakPolicy = SoakPolicy()  # bake time after each wave, per role (none by default)

    @field_validator("include_decisions")
    @classmethod
    def _deployable_only(cls, value: tuple[Decision, ...]) -> tuple[Decision, ...]:
        bad = [d.value for d in value if d in (Decision.EXEMPT, Decision.BLOCKED)]
        if bad:
            raise ValueError(f"exempt and blocked items never deploy; remove {', '.join(bad)}")
        return value

    @field_validator("risk_order")
    @classmethod
    def _no_repeats(cls, value: tuple[RiskKey, ...]) -> tuple[RiskKey, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each risk key at most once")
        return value

    @model_validator(mode="after")
    def _tiers_within_order(self) -> WavePolicy:
        if self.tier_keys > len(self.risk_order):
            keys = len(self.risk_order)
            raise ValueError(f"tier_keys ({self.tier_keys}) exceeds the {keys} risk_order keys")
        return self

    def compute_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))

    def needs_approval(self, criticality: Criticality, safety_system: bool) -> bool:
        if safety_system and self.approval_for_safety_systems:
            return True
        threshold = self.approval_from_criticality
        return threshold is not None and criticality.rank >= threshold.rank
