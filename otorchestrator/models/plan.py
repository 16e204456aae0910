"""The prioritized patch plan: which patch on which asset, how urgently, and why."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.problem import ImportProblem


class Decision(StrEnum):
    """SSVC deployer priorities, plus the plan's own outcomes that keep an item out of the rollout."""

    IMMEDIATE = "immediate"
    OUT_OF_CYCLE = "out_of_cycle"
    SCHEDULED = "scheduled"
    DEFER = "defer"
    EXEMPT = "exempt"  # an exemption with compensating controls applies
    BLOCKED = "blocked"  # e.g. patch not vendor-qualified and no recorded override

    @property
    def deployable(self) -> bool:
        return self in (Decision.IMMEDIATE, Decision.OUT_OF_CYCLE, Decision.SCHEDULED)

    @property
    def urgency(self) -> int:
        """Sort key: lower is more urgent."""
        return list(Decision).index(self)


class DecisionPoint(BaseModel):
    """One SSVC decision point, its value, and where the value came from."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str
    source: str


class Approval(BaseModel):
    """A recorded human approval: for a safety system / high-criticality asset, or an unqualified patch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str  # "asset" (safety/high-criticality) | "unqualified_patch" | "drill"
    subject: str  # asset name, or patch id
    approved_by: str
    reason: str
    at: datetime


class ExemptionRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    reason: str
    compensating_controls: tuple[str, ...]
    approver: str
    expires: datetime
    expired: bool = False


class PlanItem(BaseModel):
    """One patch for one asset."""

    model_config = ConfigDict(frozen=True)

    asset: str
    patch_id: str
    cves: tuple[str, ...]
    decision: Decision
    priority_rank: int  # 1 = first; order of the plan
    explanation: tuple[DecisionPoint, ...] = ()
    reasons: tuple[str, ...] = ()  # human sentences: why this decision
    matched_rules: tuple[str, ...] = ()  # which advisory rule(s) matched, and why
    exemption: ExemptionRef | None = None
    override: Approval | None = None
    cvss_max: float | None = None
    in_kev: bool = False
    product: str = ""  # "vendor / product" as installed on the asset
    installed_version: str = ""


class UnpatchedFinding(BaseModel):
    """An installed product affected by CVEs that no catalog patch fixes: reported, never dropped."""

    model_config = ConfigDict(frozen=True)

    asset: str
    vendor: str
    product: str
    version: str
    cves: tuple[str, ...]
    advisories: tuple[str, ...]
    remediation: str = ""  # what the advisory recommends (vendor_fix details, mitigations)


class UnmatchedProduct(BaseModel):
    """An installed product that no advisory rule names (by vendor and product)."""

    model_config = ConfigDict(frozen=True)

    vendor: str
    product: str
    version: str
    assets: int


class RuleProblem(BaseModel):
    """An advisory product rule whose version text could not be interpreted."""

    model_config = ConfigDict(frozen=True)

    advisory: str
    product_id: str
    vendor: str
    product: str
    text: str
    reason: str
    inventory_match: bool = False  # an inventory product has this vendor/product: needs a human look


class Plan(BaseModel):
    """A saved, reviewable plan. `content_hash` covers everything except itself."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    created_at: datetime
    inputs: dict[str, str] = Field(default_factory=dict)  # input name -> sha256 of the file(s)
    assets: tuple[Asset, ...]
    patches: tuple[Patch, ...]
    items: tuple[PlanItem, ...]
    approvals: tuple[Approval, ...] = ()
    warnings: tuple[str, ...] = ()
    unpatched: tuple[UnpatchedFinding, ...] = ()
    unmatched_products: tuple[UnmatchedProduct, ...] = ()
    uninterpretable_rules: tuple[RuleProblem, ...] = ()
    import_problems: tuple[ImportProblem, ...] = ()
    content_hash: str = ""

    def compute_hash(self) -> str:
        return content_hash(self.model_dump(mode="json", exclude={"content_hash"}))

    def sealed(self) -> Plan:
        return self.model_copy(update={"content_hash": self.compute_hash()})

    def asset_map(self) -> dict[str, Asset]:
        return {a.name: a for a in self.assets}

    def patch_map(self) -> dict[str, Patch]:
        return {p.id: p for p in self.patches}

    def decision_counts(self) -> dict[str, int]:
        counts = {d.value: 0 for d in Decision}
        for item in self.items:
            counts[item.decision.value] += 1
        return counts


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(data: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()
