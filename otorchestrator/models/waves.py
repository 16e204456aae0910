"""The staged rollout: waves of hosts, each host with the patches it gets, and everything left out.

A `WavePlan` is self-contained: the executor runs it without the plan file. Patches and assets are
embedded once (`patches`, `assets`); hosts reference patches by id. `content_hash` covers everything
except itself and `plan_hash` ties the wave plan to the reviewed plan it was staged from.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.collector import collector_paused
from otorchestrator.models.asset import Asset, Criticality, Role
from otorchestrator.models.canonical import hash_like, hash_version
from otorchestrator.models.canonical_onepass import Moments, Rows, write
from otorchestrator.models.canonical_stream import model_content_hash
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Approval, Decision, ExemptionRef
from otorchestrator.models.policy import WavePolicy


class Rule(StrEnum):
    """The rule that placed, delayed, held or excluded a host or item."""

    CANARY = "canary"  # least critical host covering a role/OS/patch combination
    RISK_ORDER = "risk_order"  # next in ascending risk order
    WAVE_CAP = "wave_cap"  # the earlier wave was full
    ZONE_CAP = "zone_cap"  # the earlier wave held the zone's maximum
    REDUNDANCY = "redundancy"  # another member of its redundancy group was in the earlier wave
    DEPENDENCY = "dependency"  # a declared dependency goes first (or was left out)
    DEPENDENCY_CYCLE = "dependency_cycle"
    WINDOW = "window"  # maintenance window: must hold expected duration plus rollback
    RISK_TIER = "risk_tier"  # hosts of a higher-risk tier do not share a wave with a lower tier
    APPROVAL = "approval"  # safety system / high criticality without a recorded approval
    DECISION = "decision"  # the plan's decision keeps the item out (blocked, exempt, deferred)
    UNKNOWN = "unknown"  # the plan references an asset or patch it does not contain


class Constraint(BaseModel):
    """One constraint that kept a host out of earlier waves, and when it released (UTC). A host's
    `constraints` start with the binding one (the first that pushed it past its earliest window)."""

    model_config = ConfigDict(frozen=True)

    rule: Rule
    releases_at: datetime  # UTC (placement_reason says it in the asset's local time)
    hosts: tuple[str, ...] = ()  # the canary, dependency or redundancy-group member it waited for


class WaveItem(BaseModel):
    """One plan item (patch on this host), in plan order."""

    model_config = ConfigDict(frozen=True)

    patch_id: str
    priority_rank: int
    decision: Decision
    cves: tuple[str, ...] = ()
    override: Approval | None = None  # the recorded approval that let an unqualified patch through
    exemption: ExemptionRef | None = None  # an exemption that no longer applies (expired), kept visible


class WaveHost(BaseModel):
    """A host in a wave. Patches run in `items` order; the patch data is in `WavePlan.patches`."""

    model_config = ConfigDict(frozen=True)

    name: str
    zone: str
    purdue_level: float = Field(allow_inf_nan=False)
    role: Role
    criticality: Criticality
    safety_system: bool = False
    redundancy_group: str | None = None
    items: tuple[WaveItem, ...]
    duration_minutes: int  # sum of the patches' expected durations plus the policy's per-host overhead
    rollback_minutes: int  # sum of the patches' rollback durations
    reboot_required: bool = False
    window_start: datetime  # the maintenance-window occurrence that holds this host's slot
    window_end: datetime
    latest_start: datetime  # window_end - (duration + rollback): do not start the host after this
    waits_for: tuple[str, ...] = ()  # hosts in earlier waves that must be verified before this one starts
    approval: Approval | None = None  # the approval that allowed a safety / high-criticality host
    canary_covers: tuple[str, ...] = ()  # combinations this canary host covers ("role/os/patch")
    placement_rule: Rule
    placement_reason: str
    urgent: bool = False  # an immediate / out_of_cycle item (or a dependency of one): earliest safe wave
    timezone: str = "UTC"  # the zone placement_reason shows times in (the asset's local time)
    constraints: tuple[Constraint, ...] = ()  # why not earlier: the binding constraint first

    @property
    def need_minutes(self) -> int:
        return self.duration_minutes + self.rollback_minutes

    @property
    def patch_ids(self) -> tuple[str, ...]:
        return tuple(item.patch_id for item in self.items)


class Wave(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int  # 0-based, execution order
    name: str  # canary, canary-2, wave-1, wave-2, ...
    kind: Literal["canary", "wave"]
    slot_start: datetime
    slot_end: datetime  # slot_start + the longest host's duration + rollback (hosts run in parallel)
    failure_budget: int = Field(ge=0)  # failed hosts tolerated; one more halts the rollout
    budget_counts_blocked: bool = False  # whether a host refused by diagnostics (unchanged) counts
    hosts: tuple[WaveHost, ...]


class Exclusion(BaseModel):
    """A plan item that is not in any wave, and why. `infeasible` marks a constraint that could not be met."""

    model_config = ConfigDict(frozen=True)

    asset: str
    patch_id: str
    rule: Rule
    reason: str
    infeasible: bool = False
    exemption: ExemptionRef | None = None  # the exemption (with its controls) that keeps an item out


class Hold(BaseModel):
    """A host held back until an approval is recorded; `release` says which approval releases it."""

    model_config = ConfigDict(frozen=True)

    asset: str
    patch_ids: tuple[str, ...]
    rule: Rule
    reason: str
    release: str


class CanaryGap(BaseModel):
    """A role/OS/patch combination the canary waves do not cover, and why."""

    model_config = ConfigDict(frozen=True)

    combination: str
    reason: str


_UNHASHED = frozenset({"content_hash"})


class WavePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    created_at: datetime
    plan_hash: str
    policy_hash: str
    policy: WavePolicy
    inventory: str | None = None  # source inventory path for the executor, when given
    assets: tuple[Asset, ...]  # the hosts in waves
    patches: tuple[Patch, ...]  # the patches those hosts get
    waves: tuple[Wave, ...]
    holds: tuple[Hold, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    canary_gaps: tuple[CanaryGap, ...] = ()
    warnings: tuple[str, ...] = ()
    content_hash: str = ""

    def compute_hash(self) -> str:
        """The content hash of everything but `content_hash`, in the form the wave plan was sealed in
        (`jcs-sha256:` RFC 8785; `sha256:` before it); `sealed()` always writes the current form."""
        with collector_paused():
            if self.content_hash and hash_version(self.content_hash) == "legacy":
                data = self.model_dump(mode="json", exclude={"content_hash"})
                return hash_like(data, self.content_hash, finite=True)
            return _content_hash(self)

    def sealed(self) -> WavePlan:
        with collector_paused():
            digest = _content_hash(self)  # = finite_content_hash of the JSON dump
        return self.model_copy(update={"content_hash": digest})

    def asset_map(self) -> dict[str, Asset]:
        return {a.name: a for a in self.assets}

    def patch_map(self) -> dict[str, Patch]:
        return {p.id: p for p in self.patches}

    def host_waves(self) -> dict[str, int]:
        """Host name -> index of its wave."""
        return {h.name: w.index for w in self.waves for h in w.hosts}

    @property
    def infeasible(self) -> tuple[Exclusion, ...]:
        return tuple(e for e in self.exclusions if e.infeasible)


def _content_hash(plan: WavePlan) -> str:
    """`model_content_hash(plan, _UNHASHED)`, with the assets and the waves written in one pass each
    (models/canonical_onepass.py); the other members, and a list that pass does not take, through the
    generic writer."""
    given = _one_pass(plan) if type(plan) is WavePlan and not plan.__pydantic_extra__ else None
    return model_content_hash(plan, _UNHASHED, given)


# -- the assets and the waves in one pass (models/canonical_onepass.py) ---------------------------------
#
# The assets' operating systems, a 10k-asset wave plan's ~8k hosts, ~15k items and ~17k constraints, all
# distinct, cost the generic writer ~60k pydantic calls. Here all assets are dumped in one call, every wave
# (without its hosts) in one and every host (with its items, constraints and approval) in one.

_ASSET_ROWS = Rows(Asset)
_WAVE_ROWS = Rows(Wave, skip="hosts")
_HOST_ROWS = Rows(WaveHost)
_WITHOUT_HOSTS = {"__all__": {"hosts"}}


def _one_pass(plan: WavePlan) -> dict[str, bytes] | None:
    """The RFC 8785 texts of the assets' and the waves' JSON dumps, or None (the generic writer's turn)."""
    waves = plan.waves
    hosts = tuple(h for w in waves for h in w.hosts)
    spelled: dict[float, orjson.Fragment] = {}
    assets = _ASSET_ROWS.dump(plan.assets, spelled)
    rows = _WAVE_ROWS.dump(waves, spelled, exclude=_WITHOUT_HOSTS)
    host_rows = _HOST_ROWS.dump(hosts, spelled)
    if assets is None or rows is None or host_rows is None:
        return None
    done = 0
    for wave, row in zip(waves, rows, strict=True):
        row["hosts"] = host_rows[done : done + len(wave.hosts)]
        done += len(wave.hosts)
    moments = Moments()
    assets_text, waves_text = write(assets, moments), write(rows, moments)
    if assets_text is None or waves_text is None:
        return None
    return {"assets": assets_text, "waves": waves_text}
