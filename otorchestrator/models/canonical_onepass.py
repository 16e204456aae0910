"""A model's big lists written in one pass: the RFC 8785 text of each list of plain models, for the
generic writer (models/canonical_stream.py) to put in as given (`model_content_hash(..., given=...)`);
used by the wave plan's hash (models/waves.py).

The generic writer writes a nested model by identity, one pydantic call per object: a 10k-asset wave
plan's hosts, items and constraints, all distinct, cost tens of thousands of calls. Here pydantic dumps a
whole list in one call, in python mode: enum members are left for orjson (which writes their values, as the
JSON mode does, without a Python call each) and each distinct datetime, date or time is written once by
pydantic's own JSON serializer (`Moments`, orjson's default). Each float field of the listed class is
respelled as ECMAScript writes it (`es_number`) and orjson writes the rows with sorted keys: the RFC 8785
text of their JSON dump. It holds only while the class has floats nowhere but in its own fields, enums of
strings and no member names but field names (`float_fields`); otherwise (`Rows.floats` is None, or a dump
or write is refused) the generic writer writes that member.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal, Union

import orjson
from pydantic import BaseModel, TypeAdapter
from pydantic.functional_serializers import PlainSerializer, WrapSerializer
from pydantic_core import PydanticSerializationError, SchemaSerializer

from otorchestrator.models.canonical import es_number

OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_DATETIME
_MOMENT_ROWS: dict[type, SchemaSerializer] = {k: TypeAdapter(k).serializer for k in (datetime, date, time)}


def float_fields(cls: type[BaseModel], floats: bool, skip: str = "") -> tuple[str, ...] | None:
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
            if issubclass(leaf, BaseModel) and float_fields(leaf, False) is None:
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


class Rows:
    """The one pass for a list of `cls`: its serializer and its float fields but `skip` (None: not taken)."""

    def __init__(self, cls: type[BaseModel], skip: str = "") -> None:
        self.cls = cls
        self.floats = float_fields(cls, True, skip)
        self.serializer = TypeAdapter(tuple[cls, ...]).serializer  # type: ignore[valid-type]

    def dump(
        self, objects: tuple[BaseModel, ...], spelled: dict[float, orjson.Fragment], exclude: Any = None
    ) -> list[dict[str, Any]] | None:
        """`objects` dumped in python mode with their floats respelled (`spelled`: the fragments by value,
        shared by the caller's lists), or None: the generic writer's turn."""
        names, cls = self.floats, self.cls
        if names is None or not all(type(o) is cls for o in objects):
            return None
        try:  # "error": a value that is not its declared type (a float where none is declared) is refused
            rows: list[dict[str, Any]] = self.serializer.to_python(objects, exclude=exclude, warnings="error")
        except PydanticSerializationError:
            return None
        for name in names:
            for row in rows:
                value = row[name]
                if type(value) is float:
                    found = spelled.get(value)
                    if found is None:  # NaN never hits; es_number refuses it, as the generic writer does
                        found = spelled[value] = orjson.Fragment(es_number(value).encode())
                    row[name] = found
        return rows


def write(value: Any, moments: Moments) -> bytes | None:
    """orjson's RFC 8785 text of dumped rows, or None (an integer beyond 2**53, a lone surrogate, a value
    that is not a datetime: the generic writer says so)."""
    try:
        return orjson.dumps(value, moments, OPTIONS)
    except orjson.JSONEncodeError:
        return None


class Moments:
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
