"""The prioritized patch plan: which patch on which asset, how urgently, and why."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from functools import cache
from json.encoder import encode_basestring
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_jsonable_python

from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.problem import ImportProblem

M = TypeVar("M", bound=BaseModel)


def trusted(cls: type[M], **values: Any) -> M:
    """A model built from values that are already valid, without validation: a leaner `model_construct`
    for the planner's hot loop. Every field must be given (no defaults are filled in)."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
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
        """`content_hash(self.model_dump(mode="json", exclude={"content_hash"}))`.

        A plan fresh from `build_plan` shares its decision points between items: then the walker that encodes
        each shared value once is about twice as fast. A plan read from a file shares nothing and the dump
        is faster. Both give the same text (tests/unit/test_plan_hash.py)."""
        fast = fast_content_hash(self, exclude=_UNHASHED) if self._shares_values() else None
        return fast or content_hash(self.model_dump(mode="json", exclude=set(_UNHASHED)))

    def _shares_values(self) -> bool:
        sample = [point for item in self.items[:64] for point in item.explanation]
        return len({id(point) for point in sample}) * 2 < len(sample)

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


_UNHASHED = frozenset({"content_hash"})


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(data: Any) -> str:
    return _digest(canonical_json(data))


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- canonical JSON straight from the models ---------------------------------------------------------------
# `canonical_json(model.model_dump(mode="json"))` builds the whole plan as dicts and then sorts every one
# of them. The walker below writes the same text directly, field by field in sorted order, and encodes each
# shared value (the same object: a plan's items share their decision points and rules) once. Where a model
# is not plain data (custom serializers, aliases, excluded or computed fields, a value of another model class
# than the field declares) it gives up and the caller falls back to the dump, so the text is always the same.


_encode_str: Callable[[str], str] = encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses


class _NotPlain(Exception):
    pass


@dataclass(frozen=True)
class _Field:
    name: str
    key: str  # the JSON-encoded name and the colon
    is_float: bool  # declared float (or float | None): pydantic writes an int value as a float
    models: frozenset[type]  # the model classes the annotation names


def _model_classes(annotation: object) -> frozenset[type]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return frozenset({annotation})
    return frozenset().union(*(_model_classes(a) for a in get_args(annotation)))


def _checked_shape(annotation: object) -> bool:
    """Models only where `_Canonical.model` checks their class: `M`, `M | N | None`, `tuple[M | N, ...]`."""
    if not _model_classes(annotation) or isinstance(annotation, type):
        return True
    args = get_args(annotation)
    if get_origin(annotation) is tuple:
        return len(args) == 2 and args[1] is Ellipsis and _union_of_models(args[0])
    return _union_of_models(annotation)


def _union_of_models(annotation: object) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel)
    return get_origin(annotation) in (Union, UnionType) and all(
        a is type(None) or (isinstance(a, type) and issubclass(a, BaseModel)) for a in get_args(annotation)
    )


@cache
def _plain_fields(cls: type[BaseModel]) -> tuple[_Field, ...] | None:
    """The fields of `cls` in sorted order, or None when its serialization is not plain data."""
    decorators = cls.__pydantic_decorators__
    if decorators.model_serializers or decorators.field_serializers or cls.__pydantic_computed_fields__:
        return None
    out = []
    for name, info in cls.model_fields.items():
        custom = any("Serializer" in type(m).__name__ for m in info.metadata)
        excluded = info.exclude or getattr(info, "exclude_if", None)
        if (
            info.alias
            or info.serialization_alias
            or excluded
            or custom
            or not _checked_shape(info.annotation)
        ):
            return None
        args = set(get_args(info.annotation)) or {info.annotation}
        is_float = float in args and args <= {float, type(None)}
        out.append(_Field(name, _encode_str(name) + ":", is_float, _model_classes(info.annotation)))
    return tuple(sorted(out, key=lambda f: f.name))


class _Canonical:
    def __init__(self) -> None:
        self.memo: dict[int, str] = {}  # id -> text, for values the model tree holds (alive during the walk)

    def value(self, v: Any) -> str:
        t = type(v)
        if t is str:
            return _encode_str(v)
        if v is None:
            return "null"
        if t is bool:
            return "true" if v else "false"
        if t is int or (t is float and math.isfinite(v)):
            return repr(v)
        found = self.memo.get(id(v))
        if found is not None:
            return found
        if t is tuple or t is list:
            out = "[" + ",".join([self.value(x) for x in v]) + "]"
        elif isinstance(v, BaseModel):
            out = self.model(v)
        elif t is dict and all(type(k) is str for k in v):
            out = "{" + ",".join([_encode_str(k) + ":" + self.value(v[k]) for k in sorted(v)]) + "}"
        elif isinstance(v, Enum):
            out = self.value(v.value)
        else:  # datetimes, times, dates, non-finite floats ...: pydantic's own JSON form
            out = canonical_json(to_jsonable_python(v))
        self.memo[id(v)] = out
        return out

    def model(self, m: BaseModel) -> str:
        return "{" + ",".join([key + text for key, text in self.fields(m, frozenset())]) + "}"

    def fields(self, m: BaseModel, exclude: frozenset[str]) -> Iterator[tuple[str, str]]:
        """(`"name":`, value text) per field of `m` in sorted order."""
        fields = _plain_fields(type(m))
        if fields is None or m.__pydantic_extra__:
            raise _NotPlain(type(m).__name__)
        values = m.__dict__
        for f in fields:
            if f.name not in exclude:
                yield f.key, self.field(m, f, values[f.name])

    def field(self, m: BaseModel, f: _Field, v: Any) -> str:
        if type(v) is str:  # most fields: no checks, no memo
            return _encode_str(v)
        if f.is_float and type(v) is int:
            v = float(v)
        elif f.models and not _declared(v, f.models):
            raise _NotPlain(f"{type(m).__name__}.{f.name}")
        return self.value(v)

    def root(self, m: BaseModel, exclude: frozenset[str]) -> Iterator[str]:
        """The text of `m` in pieces. The elements of its tuples of models (a plan's items, assets ...) are
        not shared, so they are written one by one and not kept in the memo."""
        fields = _plain_fields(type(m))
        if fields is None or m.__pydantic_extra__:
            raise _NotPlain(type(m).__name__)
        yield "{"
        for n, f in enumerate(x for x in fields if x.name not in exclude):
            v = m.__dict__[f.name]
            yield ("," if n else "") + f.key
            if type(v) is tuple and v and f.models and _declared(v, f.models) and isinstance(v[0], BaseModel):
                yield "[" + ",".join([self.model(x) for x in v]) + "]"
            else:
                yield self.field(m, f, v)
        yield "}"


def _declared(v: object, models: frozenset[type]) -> bool:
    """Every model in `v` (a field value) is of a class the field declares (else pydantic would write it as
    the declared class, which this walker does not imitate)."""
    if isinstance(v, tuple | list):
        return all(type(x) in models or not isinstance(x, BaseModel) for x in v)
    return type(v) in models or not isinstance(v, BaseModel)


def fast_canonical_json(model: BaseModel, exclude: frozenset[str] = frozenset()) -> str | None:
    """`canonical_json(model.model_dump(mode="json", exclude=exclude))`, or None when the model is not plain
    data (then use that expression)."""
    try:
        return "".join(_Canonical().root(model, exclude))
    except _NotPlain:
        return None


def fast_content_hash(model: BaseModel, exclude: frozenset[str] = frozenset()) -> str | None:
    """`content_hash(model.model_dump(mode="json", exclude=exclude))` fed piece by piece (the whole text is
    never held), or None when the model is not plain data."""
    digest = hashlib.sha256()
    try:
        for piece in _Canonical().root(model, exclude):
            digest.update(piece.encode())
    except _NotPlain:
        return None
    return "sha256:" + digest.hexdigest()
