"""The prioritized patch plan: which patch on which asset, how urgently, and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otorchestrator.collector import collector_paused
from otorchestrator.models.advisory import Provenance
from otorchestrator.models.asset import Asset
from otorchestrator.models.canonical import content_hash as content_hash  # re-exported
from otorchestrator.models.canonical import hash_like, hash_version, legacy_canonical_json
from otorchestrator.models.canonical_stream import model_content_hash
from otorchestrator.models.catalog import Patch
from otorchestrator.models.problem import ImportProblem

M = TypeVar("M", bound=BaseModel)


def trusted(cls: type[M], **values: Any) -> M:
    """A model built from values that are already valid, without validation: a leaner `model_construct`
    for the planner's hot loop. Every field must be given (no defaults are filled in)."""
    return trusted_fields(cls, values)


_new = object.__new__
_set = object.__setattr__


def trusted_fields(cls: type[M], values: dict[str, Any], names: set[str] | None = None) -> M:
    """`trusted(cls, **values)` that keeps `values` itself as the model's fields (the caller gives it up).

    `names`: the set of `values`' keys, shared by every model the caller builds with it (frozen classes
    only: pydantic changes the fields-set of a model only through setting an attribute; `model_copy` copies
    it first)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values) if names is None else names)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


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

    @field_validator("approved_by", "reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        """An approval names who approved and why: blank text records nobody (the value is kept as given,
        so a sealed plan reads back byte for byte)."""
        if not value.strip():
            raise ValueError("non-blank text (who approved it, and why)")
        return value


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
    cvss_max: float | None = Field(default=None, allow_inf_nan=False)
    in_kev: bool = False
    product: str = ""  # "vendor / product" as installed on the asset
    installed_version: str = ""
    provenance: tuple[Provenance, ...] = ()  # the stored revisions behind `cves` (from a feed store)


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
    provenance: tuple[Provenance, ...] = ()  # the stored revisions behind `advisories` (from a feed store)
    # per matching rule: advisory, product id, full product name, version text, and why it holds
    matched_rules: tuple[str, ...] = ()


class ReviewCandidate(BaseModel):
    """An advisory rule that may name an installed product but not certainly (the advisory names the
    product's family or a component of it, or the same product under another vendor name): not matched,
    not dropped; a human decides."""

    model_config = ConfigDict(frozen=True)

    vendor: str
    product: str
    version: str
    assets: int
    advisory: str
    product_id: str
    reason: str  # both names, the product-tree entry and its version text


class UnmatchedProduct(BaseModel):
    """An installed product that no advisory rule names (by vendor and product)."""

    model_config = ConfigDict(frozen=True)

    vendor: str
    product: str
    version: str
    assets: int


class RuleProblem(BaseModel):
    """An advisory product rule whose version text could not be interpreted, or whose fixed version
    contradicts its affected range (`reason` says which)."""

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
    review: tuple[ReviewCandidate, ...] = ()
    fix_contradictions: tuple[RuleProblem, ...] = ()  # fixed version inside, below or above the range
    import_problems: tuple[ImportProblem, ...] = ()
    content_hash: str = ""

    def compute_hash(self) -> str:
        """The content hash of everything but `content_hash`, in the form the plan was sealed in
        (`jcs-sha256:` RFC 8785; `sha256:` for a plan sealed before it), so `compute_hash() == content_hash`
        checks an older plan too. `sealed()` always writes the current form."""
        with collector_paused():  # the dump is millions of small dicts next to the plan
            if hash_version(self.content_hash) == "legacy" and self.content_hash:
                return hash_like(self.model_dump(mode="json", exclude=set(_UNHASHED)), self.content_hash)
            return model_content_hash(self, _UNHASHED)

    def sealed(self) -> Plan:
        with collector_paused():
            digest = model_content_hash(self, _UNHASHED)  # = finite_content_hash of the JSON dump
        return self.model_copy(update={"content_hash": digest})

    def asset_map(self) -> dict[str, Asset]:
        return {a.name: a for a in self.assets}

    def patch_map(self) -> dict[str, Patch]:
        return {p.id: p for p in self.patches}

    def decision_counts(self) -> dict[str, int]:
        counts = {d.value: 0 for d in Decision}
        for item in self.items:
            counts[item.decision.value] += 1
        return counts


_UNHASHED = frozenset({"content_hash"})


# the hashing mechanics live in models/canonical.py; these names stay importable from here
canonical_json = legacy_canonical_json  # the text behind `sha256:` hashes (before RFC 8785)
