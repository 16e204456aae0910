"""Checks of single OT variable values, collecting readable problems (pydantic errors translated).

Every check runs and every problem is collected: one host can report several problems at once. Values are
read the way Ansible hands them over, so INI strings such as `"false"` or `"2"` are accepted where Ansible
itself would accept them (`| bool`, numbers), while YAML pitfalls that silently change meaning (an unquoted
version `1.10` read as the float 1.1) are rejected with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from otorchestrator.intake.ot_vars import (
    CONNECTION_VAR,
    CONNECTIONS,
    KNOWN,
    PRODUCT_TEXT,
    PURDUE_TEXT,
    WINDOW_TEXT,
    HostVars,
    PathItem,
    ansible_bool,
    choices,
    path_text,
    suggestion,
)
from otorchestrator.intake.problems import MISSING, FieldProblem
from otorchestrator.models.asset import (
    DAYS,
    PURDUE_LEVELS,
    AnyTimeWindow,
    InstalledProduct,
    MaintenanceWindow,
    OneOffWindow,
    OperatingSystem,
    RecurringWindow,
)

M = TypeVar("M", bound=BaseModel)


class Collector:
    """Gathers the problems of one host."""

    def __init__(self, host: HostVars) -> None:
        self.host = host
        self.problems: list[FieldProblem] = []

    def bad(self, variable: str, path: Sequence[PathItem], value: object, expected: str) -> None:
        self.problems.append(
            FieldProblem(
                self.host.name,
                path_text(variable, path),
                value,
                expected,
                self.host.source_of(variable, path),
            )
        )

    def pydantic(
        self,
        variable: str,
        path: Sequence[PathItem],
        exc: ValidationError,
        model: type[BaseModel],
        since: int | None = None,
    ) -> None:
        """Translate a pydantic ValidationError into readable problems (never dump it). With `since`, a
        path already reported from that problem on (by an earlier, more specific check) is not repeated."""
        seen = {p.variable for p in self.problems[since:]} if since is not None else set()
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            if path_text(variable, (*path, *loc)) in seen:
                continue
            value = MISSING if error["type"] == "missing" else error.get("input", MISSING)
            self.bad(variable, (*path, *loc), value, expected_text(error, model))

    def validate(
        self, variable: str, path: Sequence[PathItem], data: object, model: type[M], since: int
    ) -> M | None:
        """`model` from `data`, reporting every problem the model finds besides those reported since
        problem `since` (one item's earlier checks); None when the item has any problem."""
        try:
            result = model.model_validate(data)
        except ValidationError as exc:
            self.pydantic(variable, path, exc, model, since)
            return None
        return result if len(self.problems) == since else None


def expected_text(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = error["loc"]
    ctx = error.get("ctx") or {}
    keys = list(model.model_fields)
    if kind == "missing":
        return f"a value: the key {loc[-1]!r} is required"
    if kind == "extra_forbidden":
        return f"no such key (known: {', '.join(keys)}){suggestion(str(loc[-1]), keys)}"
    if kind in ("literal_error", "enum"):
        value = error.get("input")
        allowed = [s.strip().strip("'") for s in str(ctx.get("expected", "")).replace(" or ", ",").split(",")]
        hint = suggestion(value, allowed) if isinstance(value, str) else ""
        return f"one of {', '.join(a for a in allowed if a)}{hint}"
    if kind.startswith("time_"):
        return 'a time of day "HH:MM" (24 h, two-digit hour, local to the window time zone)'
    if kind.startswith("datetime_"):
        return "an ISO-8601 date-time with a UTC offset, e.g. 2026-11-22T02:00:00+00:00"
    if kind in ("greater_than", "less_than_equal", "greater_than_equal", "less_than"):
        bounds = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
        return "a number " + " and ".join(f"{bounds[k]} {ctx[k]}" for k in bounds if k in ctx)
    message = str(error.get("msg", kind))
    for prefix in ("Value error, ", "Input should be "):
        message = message.removeprefix(prefix)
    return _MODEL_MESSAGES.get(message, message)


# model rules phrased as what was expected
_MODEL_MESSAGES = {"end must be after start": "an end after the start"}


def check_text(c: Collector, variable: str, value: object, path: Sequence[PathItem] = ()) -> str | None:
    """Non-empty text. Integers are accepted (lossless); floats, booleans and structures are not."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        c.bad(variable, path, value, "text" + _quote_hint(value))
        return None
    text = str(value).strip()
    if not text:
        c.bad(variable, path, value, "non-empty text")
        return None
    return text


def check_version(c: Collector, variable: str, value: object, path: Sequence[PathItem]) -> str | None:
    if isinstance(value, float):
        c.bad(
            variable,
            path,
            value,
            "a quoted version string exactly as the vendor writes it: YAML reads an unquoted version "
            'as a number and drops digits (1.10 becomes 1.1); write version: "1.10"',
        )
        return None
    return check_text(c, variable, value, path)


def _quote_hint(value: object) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return " (quote it in YAML)"
    return ""


def check_purdue(c: Collector, value: object) -> float | None:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or number not in PURDUE_LEVELS:
        c.bad("ot_purdue_level", (), value, PURDUE_TEXT)
        return None
    return number


def check_choice(c: Collector, variable: str, value: object, enum: type[StrEnum]) -> str | None:
    allowed = [m.value for m in enum]
    if isinstance(value, str) and value in allowed:
        return value
    hint = suggestion(value.lower(), allowed) if isinstance(value, str) else ""
    c.bad(variable, (), value, choices(enum) + hint)
    return None


def check_boolean(c: Collector, variable: str, value: object) -> bool | None:
    result = ansible_bool(value)
    if result is None:
        c.bad(variable, (), value, "a boolean (true/false, yes/no)")
    return result


def _list(c: Collector, variable: str, value: object, expected: str) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        expected += " (INI [group:vars] values are plain strings: put lists in group_vars/host_vars YAML)"
    c.bad(variable, (), value, expected)
    return None


def check_windows(c: Collector, value: object) -> tuple[MaintenanceWindow, ...]:
    variable = "ot_maintenance_windows"
    items = _list(c, variable, value, WINDOW_TEXT)
    windows: list[MaintenanceWindow] = []
    for index, item in enumerate(items or []):
        if not isinstance(item, Mapping):
            c.bad(variable, (index,), item, WINDOW_TEXT.removeprefix("a list of windows: "))
            continue
        model: type[RecurringWindow] | type[OneOffWindow] | type[AnyTimeWindow]
        if "any_time" in item:
            model = AnyTimeWindow
        elif "days" in item or "duration_minutes" in item:
            model = RecurringWindow
        elif "end" in item:
            model = OneOffWindow
        else:
            c.bad(
                variable,
                (index,),
                item,
                "a weekly window (days, start, duration_minutes[, timezone]), "
                "a one-off window (start, end) or an any-time window (any_time: true[, timezone])",
            )
            continue
        before = len(c.problems)  # every bad field of this window is reported, each path once
        days = item.get("days")
        if model is RecurringWindow and isinstance(days, str):
            c.bad(variable, (index, "days"), days, f"a list of days, e.g. [{days}]")
        if model is RecurringWindow and isinstance(days, list):
            for position, day in enumerate(days):
                if day not in DAYS:
                    hint = suggestion(str(day).lower()[:3], DAYS)
                    c.bad(variable, (index, "days", position), day, f"one of {', '.join(DAYS)}{hint}")
        if model is OneOffWindow and _naive(item):
            c.bad(
                variable,
                (index,),
                item,
                "start and end with a UTC offset, e.g. 2026-11-22T02:00:00+00:00 (a time without an offset "
                "is ambiguous)",
            )
        window = c.validate(variable, (index,), item, model, before)
        if window is not None:
            windows.append(window)
    return tuple(windows)


def _naive(item: Mapping[str, Any]) -> bool:
    """Whether start or end is a date-time without a UTC offset (which the model refuses)."""
    for key in ("start", "end"):
        value = item.get(key)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                continue
        if isinstance(value, datetime) and value.tzinfo is None:
            return True
    return False


def check_products(c: Collector, value: object) -> tuple[InstalledProduct, ...]:
    variable = "ot_installed_products"
    items = _list(c, variable, value, PRODUCT_TEXT)
    products: list[InstalledProduct] = []
    for index, item in enumerate(items or []):
        if not isinstance(item, Mapping):
            c.bad(variable, (index,), item, PRODUCT_TEXT.removeprefix("a list of "))
            continue
        data = dict(item)
        before = len(c.problems)
        for key in ("vendor", "product", "package"):
            if data.get(key) is not None:
                data[key] = check_text(c, variable, data[key], (index, key))
        if "version" in data:
            data["version"] = check_version(c, variable, data["version"], (index, "version"))
        product = c.validate(variable, (index,), data, InstalledProduct, before)  # the other fields too
        if product is not None:
            products.append(product)
    return tuple(products)


def check_os(c: Collector, value: object) -> OperatingSystem | None:
    variable = "ot_os"
    if not isinstance(value, Mapping):
        c.bad(variable, (), value, KNOWN[variable].expected)
        return None
    data = dict(value)
    before = len(c.problems)
    if "family" in data:
        data["family"] = check_text(c, variable, data["family"], ("family",))
    if "version" in data:
        data["version"] = check_version(c, variable, data["version"], ("version",))
    return c.validate(variable, (), data, OperatingSystem, before)  # the other fields too


def check_depends_on(c: Collector, value: object) -> tuple[str, ...]:
    variable = "ot_depends_on"
    items = _list(c, variable, value, KNOWN[variable].expected)
    names = [check_text(c, variable, item, (index,)) for index, item in enumerate(items or [])]
    return tuple(n for n in names if n is not None)


def check_connection(c: Collector, value: object) -> str | None:
    if isinstance(value, str):
        name = value.strip().removeprefix("ansible.builtin.")
        if name in CONNECTIONS:
            return CONNECTIONS[name]
    expected = "ssh (default) or winrm"
    if isinstance(value, str) and "{{" in value:
        expected += " written literally (intake does not evaluate templates)"
    c.bad(CONNECTION_VAR, (), value, expected)
    return None
