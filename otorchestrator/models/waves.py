"""The staged rollout: waves of hosts, each host with the patches it gets, and everything left out.

A `WavePlan` is self-contained: the executor runs it without the plan file. Patches and assets are
embedded once (`patches`, `assets`); hosts reference patches by id. `content_hash` covers everything
except itself and `plan_hash` ties the wave plan to the reviewed plan it was staged from.
"""

from __future__ import annotations

import hashlib
import types
import typing
from datetime import date, datetime, time
from enum import Enum, StrEnum
from typing import Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.functional_serializers import PlainSerializer, WrapSerializer
from pydantic_core import PydanticSerializationError, SchemaSerializer

from otorchestrator.collector import collector_paused
from otorchestrator.models.asset import Asset, Criticality, Role
from otorchestrator.models.canonical import JCS_PREFIX, es_number, hash_like, hash_version
from otorchestrator.models.canonical_stream import model_content_hash, model_jcs_bytes
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
    (`_rows_jcs`); the other members, and a wave plan that pass does not take, through the generic writer."""
    texts = _one_pass(plan) if type(plan) is WavePlan and not plan.__pydantic_extra__ else None
    if texts is None:
        return model_content_hash(plan, _UNHASHED)
    assets, waves = texts
    rest = model_jcs_bytes(plan, _UNHASHED | {"assets", "waves"})  # "assets" sorts first, "waves" last
    digest = hashlib.sha256(b'{"assets":')
    digest.update(assets)
    digest.update(b",")
    digest.update(memoryview(rest)[1:-1])
    digest.update(b',"waves":')
    digest.update(waves)
    digest.update(b"}")
    return JCS_PREFIX + digest.hexdigest()


# -- the assets and the waves in one pass ----------------------------------------------------------------
#
# The generic writer (models/canonical_stream.py) writes a nested model by identity, one pydantic call per
# object: a 10k-asset wave plan's ~8k hosts, ~15k items and ~17k constraints, all distinct, and the assets'
# operating systems, cost ~60k calls. Here pydantic dumps all assets in one call, every wave (without its
# hosts) in one and every host (with its items, constraints and approval) in one, in python mode: enum
# members are left for orjson (which writes their values, as the JSON mode does, without a Python call
# each) and each distinct datetime, date or time is written once by pydantic's own JSON serializer
# (`_Moments`, orjson's default). Each float field of an asset or a host is respelled as ECMAScript writes it
# (`es_number`) and orjson writes the rows with sorted keys: the RFC 8785 text of their JSON dump. It holds
# only while those classes have floats nowhere but in their own fields, enums of strings and no member names
# but field names (`_float_fields`); otherwise the generic writer runs.

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_DATETIME
_MOMENT_ROWS: dict[type, SchemaSerializer] = {k: TypeAdapter(k).serializer for k in (datetime, date, time)}
_WAVE_ROWS = TypeAdapter(tuple[Wave, ...]).serializer
_HOST_ROWS = TypeAdapter(tuple[WaveHost, ...]).serializer
_ASSET_ROWS = TypeAdapter(tuple[Asset, ...]).serializer
_WITHOUT_HOSTS = {"__all__": {"hosts"}}


def _float_fields(cls: type[BaseModel], floats: bool, skip: str = "") -> tuple[str, ...] | None:
    """The float fields of `cls` but `skip` (allowed only if `floats`), or None where the one pass could
    differ from the reference text: a float in a nested model, a dict, Any, an alias or a serializer."""
    decorators = cls.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers or cls.__pydantic_computed_fields__:
        return None
    if cls.model_config.get("extra") == "allow":
        return None
    found: list[str] = []
    for name, info in cls.model_fields.items():
        if name == skip:
            continue
        if info.serialization_alias or info.exclude:
            return None
        if any(isinstance(m, (PlainSerializer, WrapSerializer)) for m in info.metadata):
            return None
        leaves = _leaves(info.annotation)
        if leaves is None or (float in leaves and not floats):
            return None
        if float in leaves:
            found.append(name)
        for leaf in leaves:
            if issubclass(leaf, BaseModel) and _float_fields(leaf, False) is None:
                return None
    return tuple(found)


def _leaves(annotation: Any) -> set[type] | None:
    """The types a value of `annotation` is made of (through unions, `tuple[X, ...]`, `list[X]`), or None
    for one the one pass does not take (a dict, Any, a fixed-length tuple, a literal of non-strings)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        parts = [_leaves(a) for a in args if a is not Ellipsis]
    elif origin is list:
        parts = [_leaves(args[0])]
    elif origin is Literal:
        return {str} if all(type(a) in (str, int, bool) for a in args) else None
    elif isinstance(annotation, type) and issubclass(annotation, Enum):  # orjson writes a member's value
        return {annotation} if all(type(m.value) is str for m in annotation) else None
    elif isinstance(annotation, type) and (
        annotation in (str, int, float, bool, type(None), datetime, date, time)
        or issubclass(annotation, BaseModel)
    ):
        return {annotation}
    else:
        return None
    if any(p is None for p in parts):
        return None
    return set().union(*parts)  # type: ignore[arg-type]


def _one_pass(plan: WavePlan) -> tuple[bytes, bytes] | None:
    """The RFC 8785 texts of the assets' and the waves' JSON dumps, or None (the generic writer's turn)."""
    if _ASSET_FLOATS is None or _HOST_FLOATS is None or not _ONE_PASS:
        return None
    waves = plan.waves
    hosts = tuple(h for w in waves for h in w.hosts)
    try:  # "error": a value that is not its declared type (a float where none is declared) is refused
        assets = _ASSET_ROWS.to_python(plan.assets, warnings="error")
        rows = _WAVE_ROWS.to_python(waves, exclude=_WITHOUT_HOSTS, warnings="error")
        host_rows = _HOST_ROWS.to_python(hosts, warnings="error")
    except PydanticSerializationError:
        return None
    spelled: dict[float, orjson.Fragment] = {}
    for dumped, names in ((assets, _ASSET_FLOATS), (host_rows, _HOST_FLOATS)):
        for name in names:
            for row in dumped:
                value = row[name]
                if type(value) is float:
                    found = spelled.get(value)
                    if found is None:  # NaN never hits; es_number refuses it, as the generic writer does
                        found = spelled[value] = orjson.Fragment(es_number(value).encode())
                    row[name] = found
    done = 0
    for wave, row in zip(waves, rows, strict=True):
        row["hosts"] = host_rows[done : done + len(wave.hosts)]
        done += len(wave.hosts)
    moment = _Moments()
    try:
        return orjson.dumps(assets, moment, _OPTIONS), orjson.dumps(rows, moment, _OPTIONS)
    except orjson.JSONEncodeError:  # an integer beyond 2**53, a lone surrogate: the generic writer says so
        return None


class _Moments:
    """orjson's `default` for datetimes, dates and times: pydantic's JSON text of each, written once per
    distinct value (equal, same zone object and fold: the same text)."""

    def __init__(self) -> None:
        self.texts: dict[tuple[object, ...], str] = {}

    def __call__(self, value: object) -> str:
        kind = type(value)
        key = (kind, value, getattr(value, "tzinfo", None), getattr(value, "fold", 0))
        text = self.texts.get(key)
        if text is None:
            writer = _MOMENT_ROWS.get(kind)
            if writer is None:  # orjson then refuses the text: the generic writer's turn
                raise TypeError(f"{kind.__name__} is not a datetime, date or time")
            text = self.texts[key] = writer.to_python(value, mode="json")
        return text


_NAMES = sorted(WavePlan.model_fields.keys() - _UNHASHED)
_ASSET_FLOATS = _float_fields(Asset, True)
_HOST_FLOATS = _float_fields(WaveHost, True)
_ONE_PASS = (
    _NAMES[0] == "assets"
    and _NAMES[-1] == "waves"
    and len(_NAMES) > 2
    and _float_fields(Wave, False, skip="hosts") is not None
)
