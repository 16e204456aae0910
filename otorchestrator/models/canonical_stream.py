"""The RFC 8785 text of a pydantic model, written in pieces straight into a hash.

`model_jcs_pieces(model, exclude)` yields, piece by piece, exactly `finite_jcs_bytes(model.model_dump(
mode="json", exclude=exclude))` (models/canonical.py), without building the whole dump or the whole text: a
10k-asset plan's text is ~57 MB, a 100k one's ~570 MB, and writing it whole cost more in fresh memory than in
serialising. How:

- The long top-level sequences of one model class (a plan's items, assets, unpatched findings) are written
  in chunks: pydantic dumps a chunk's scalar fields (str, numbers, enums, datetimes: its own JSON forms),
  orjson writes the chunk (sorted keys), the chunk's bytes go to the hash and are dropped.
- A nested value (a model, a tuple of models, a tuple of strings) is written once per object and reused by
  identity: the 11 decision points of an item, the matched rules of a finding, a host's installed products
  are shared objects in a plan (the planner memoises them), so most are written once for thousands of
  uses. The cache lives for one call; the model, which holds every cached object, outlives it.
- A float is written as ECMAScript writes it (`es_number`, once per distinct value), inserted as a ready
  JSON fragment; no float is left for orjson to spell.

Only "plain" model classes go this way: no alias, serializer, computed field, excluded field or extra
fields, ASCII field names (the member order orjson and RFC 8785 agree on). Anything else (a union of
models, a dict, a subclass where its parent is declared) is written through the model's own dump and
`finite_jcs_bytes`, so the text is the reference text whatever the model holds; tests/unit/test_plan_hash.py
compares the two on plans, and the benches on the 10k and 100k plans.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal, Union

import orjson
from pydantic import BaseModel, TypeAdapter
from pydantic.functional_serializers import PlainSerializer, WrapSerializer
from pydantic_core import PydanticSerializationError

from otorchestrator.models.canonical import JCS_PREFIX, CanonicalJSONError, es_number, finite_jcs_bytes

CHUNK = 512  # top-level sequence elements per orjson call
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_SCALARS = (str, int, float, bool, type(None), datetime, date, time)


def _members(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of `X | Y | None` (Optional included), else (annotation,)."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _is_scalar(annotation: Any) -> bool:
    """A type pydantic dumps as a JSON scalar: str, numbers, bool, None, enums, dates, str literals."""
    for member in _members(annotation):
        if typing.get_origin(member) is Literal:
            if not all(isinstance(v, str) for v in typing.get_args(member)):
                return False
        elif not (member in _SCALARS or (isinstance(member, type) and issubclass(member, Enum))):
            return False
    return True


def _plain(cls: type[BaseModel]) -> bool:
    """Whether pydantic dumps `cls` as its fields by name and nothing else (see the module text)."""
    decorators = cls.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers or cls.__pydantic_computed_fields__:
        return False
    if cls.model_config.get("extra") == "allow":
        return False
    for name, info in cls.model_fields.items():
        if not name.isascii() or info.serialization_alias or info.exclude:
            return False
        if any(isinstance(m, (PlainSerializer, WrapSerializer)) for m in info.metadata):
            return False
    return True


def _element_class(annotation: Any) -> type[BaseModel] | None:
    """C for `tuple[C, ...]` / `list[C]` (optionally `| None`) where C is a plain model class."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) != 1:
        return None
    origin, args = typing.get_origin(members[0]), typing.get_args(members[0])
    shaped = (origin is tuple and len(args) == 2 and args[1] is Ellipsis) or (
        origin is list and len(args) == 1
    )
    element = args[0] if shaped else None
    if isinstance(element, type) and issubclass(element, BaseModel) and _plain(element):
        return element
    return None


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """C for a field declared `C` or `C | None`, C a plain model class."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], BaseModel):
        return members[0] if _plain(members[0]) else None
    return None


def _str_sequence(annotation: Any) -> bool:
    """`tuple[str, ...]` (optionally `| None`): dumped by pydantic with the scalars."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) != 1:
        return False
    origin, args = typing.get_origin(members[0]), typing.get_args(members[0])
    return origin is tuple and args == (str, Ellipsis)


def _admits_float(annotation: Any) -> bool:
    return float in _members(annotation)


class _Field:
    """A nested field of a plain class: how its value is written, and the texts written so far by the
    identity of the value (kept only while values repeat: a field where under 1 lookup in 8 finds its value,
    such as a host's installed products, stops being cached after a chunk or so)."""

    def __init__(self, cls: type[BaseModel], name: str) -> None:
        annotation = cls.model_fields[name].annotation
        self.name = name
        self.element = _element_class(annotation)  # tuple[C, ...]: each element through the model cache
        self.model = _model_class(annotation)  # C | None
        self.cache: dict[int, tuple[bytes, orjson.Fragment]] = {}
        self.lookups = 0
        self.misses = 0
        self.caching = True

    def looked(self, lookups: int) -> None:
        """`lookups` more values were looked up (`misses` counts those not found)."""
        self.lookups += lookups
        if self.lookups >= 512 and self.misses * 8 > self.lookups * 7:  # under 1 hit in 8: stop caching
            self.caching = False
            self.cache.clear()


class _Shape:
    """How one plain model class is written: its scalar fields (and string tuples) through pydantic, the
    rest by identity."""

    def __init__(self, cls: type[BaseModel]) -> None:
        self.cls = cls
        fields = cls.model_fields
        dumped = {n for n, f in fields.items() if _is_scalar(f.annotation) or _str_sequence(f.annotation)}
        self.scalars = frozenset(dumped)
        self.floats = tuple(n for n in fields if n in dumped and _admits_float(fields[n].annotation))
        self.nested = tuple(_Field(cls, n) for n in fields if n not in dumped)
        self.exclude: dict[str, set[str]] = {"__all__": {f.name for f in self.nested}}
        self.serializer = TypeAdapter(tuple[cls, ...]).serializer  # type: ignore[valid-type]


class _Writer:
    """One call's caches: float fragments by value, models and nested values by identity."""

    def __init__(self) -> None:
        self.floats: dict[float, orjson.Fragment] = {}
        self.shapes: dict[type[BaseModel], _Shape] = {}
        self.models: dict[int, bytes] = {}

    def shape(self, cls: type[BaseModel]) -> _Shape:
        found = self.shapes.get(cls)
        if found is None:
            found = self.shapes[cls] = _Shape(cls)
        return found

    def float_fragment(self, value: float) -> orjson.Fragment:
        found = self.floats.get(value)
        if found is None:  # NaN never hits the cache; es_number refuses it
            found = self.floats[value] = orjson.Fragment(es_number(value).encode())
        return found

    def rows(self, shape: _Shape, objects: tuple[BaseModel, ...]) -> bytes:
        """`[...]`: the RFC 8785 text of `objects`, all of `shape`'s class. pydantic dumps the scalar
        fields; floats are respelled and nested values put in as fragments, then orjson writes it all.

        pydantic is told to raise where a value does not have its declared type (it would only warn):
        then a float may sit where none is declared, and the chunk is written by the reference path."""
        try:
            dumped = shape.serializer.to_python(objects, mode="json", exclude=shape.exclude, warnings="error")
        except PydanticSerializationError:
            full = shape.serializer.to_python(objects, mode="json")
            return finite_jcs_bytes(full)
        floats = self.floats
        for name in shape.floats:
            for row in dumped:
                value = row[name]
                if type(value) is float:
                    row[name] = floats.get(value) or self.float_fragment(value)
        for field in shape.nested:
            cache, name = field.cache, field.name
            for obj, row in zip(objects, dumped, strict=True):
                value = getattr(obj, name)
                found = cache.get(id(value))
                if found is None:
                    found = self.value(obj, field, value)
                row[name] = found[1]
            if field.caching:
                field.looked(len(objects))
        try:
            return orjson.dumps(dumped, option=_OPTIONS)
        except orjson.JSONEncodeError as exc:  # an integer beyond 2**53
            raise CanonicalJSONError(str(exc)) from exc

    def value(self, owner: BaseModel, field: _Field, value: Any) -> tuple[bytes, orjson.Fragment]:
        """The text of `owner.<field>` (which is `value`), and the same as a fragment for orjson."""
        text = self._value_bytes(owner, field, value)
        found = (text, orjson.Fragment(text))
        if field.caching:
            field.cache[id(value)] = found
            field.misses += 1
        return found

    def _value_bytes(self, owner: BaseModel, field: _Field, value: Any) -> bytes:
        if value is None:
            return b"null"
        element = field.element
        if element is not None and type(value) is tuple and all(type(v) is element for v in value):
            models = self.models
            return b"[" + b",".join([models.get(id(v)) or self.model(v) for v in value]) + b"]"
        if field.model is not None and type(value) is field.model:
            return self.model(value)
        # anything else: the model's own dump of this one field, then the RFC 8785 writer
        return finite_jcs_bytes(owner.model_dump(mode="json", include={field.name})[field.name])

    def model(self, obj: BaseModel) -> bytes:
        found = self.models.get(id(obj))
        if found is None:
            found = self.models[id(obj)] = self.rows(self.shape(type(obj)), (obj,))[1:-1]
        return found


def _scalar(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError as exc:
        raise CanonicalJSONError(str(exc)) from exc


def model_jcs_pieces(
    model: BaseModel, exclude: frozenset[str] = frozenset(), given: Mapping[str, bytes] | None = None
) -> Iterator[bytes]:
    """The RFC 8785 text of `model.model_dump(mode="json", exclude=exclude)`, in pieces (module text).
    The model's floats must be finite (a plan's and a wave plan's float fields refuse NaN and infinity).
    `given`: members whose text the caller wrote already (models/canonical_onepass.py), put in as is."""
    given = given or {}
    cls = type(model)
    if not _plain(cls) or model.__pydantic_extra__:
        yield finite_jcs_bytes(model.model_dump(mode="json", exclude=set(exclude)))
        return
    writer = _Writer()
    shape = writer.shape(cls)
    names = sorted(n for n in cls.model_fields if n not in exclude)  # ASCII: code point = UTF-16 order
    scalars = model.model_dump(mode="json", include={n for n in names if n in shape.scalars})
    for index, name in enumerate(names):
        yield (b"{" if index == 0 else b",") + orjson.dumps(name) + b":"
        if name in given:
            yield given[name]
            continue
        if name in shape.scalars:
            value = scalars[name]
            if isinstance(value, list):  # a tuple of strings
                yield finite_jcs_bytes(value)
            else:
                yield es_number(value).encode() if type(value) is float else _scalar(value)
            continue
        value = getattr(model, name)
        element = _element_class(cls.model_fields[name].annotation)
        if element is None or not isinstance(value, tuple) or not all(type(v) is element for v in value):
            field = next(f for f in shape.nested if f.name == name)
            yield writer.value(model, field, value)[0]
            continue
        rows = writer.shape(element)
        yield b"["
        for start in range(0, len(value), CHUNK):
            text = writer.rows(rows, value[start : start + CHUNK])
            yield text[1:-1] if start == 0 else b"," + text[1:-1]
        yield b"]"
    yield b"}" if names else b"{}"


def model_jcs_bytes(
    model: BaseModel, exclude: frozenset[str] = frozenset(), given: Mapping[str, bytes] | None = None
) -> bytes:
    return b"".join(model_jcs_pieces(model, exclude, given))


def model_content_hash(
    model: BaseModel, exclude: frozenset[str] = frozenset(), given: Mapping[str, bytes] | None = None
) -> str:
    """`finite_content_hash(model.model_dump(mode="json", exclude=exclude))`, without the dump."""
    digest = hashlib.sha256()
    for piece in model_jcs_pieces(model, exclude, given):
        digest.update(piece)
    return JCS_PREFIX + digest.hexdigest()
