"""The OT host variables (docs/contracts.md section 3) and the pure translation host vars -> Asset.

Every check runs and every problem is collected: one host can report several problems at once. Values are
read the way Ansible hands them over, so INI strings such as `"false"` or `"2"` are accepted where Ansible
itself would accept them (`| bool`, numbers), while YAML pitfalls that silently change meaning (an unquoted
version `1.10` read as the float 1.1) are rejected with the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from otorchestrator.intake.problems import MISSING, FieldProblem, Note
from otorchestrator.models.asset import (
    DAYS,
    PURDUE_LEVELS,
    Asset,
    Criticality,
    InstalledProduct,
    MaintenanceWindow,
    OneOffWindow,
    OperatingSystem,
    RecurringWindow,
    Role,
)

PathItem = str | int


class HostVars(Protocol):
    """What the translation needs of a host (implemented by `ansible_source.RawHost`)."""

    @property
    def name(self) -> str: ...
    @property
    def groups(self) -> tuple[str, ...]: ...
    @property
    def variables(self) -> Mapping[str, object]: ...
    def source_of(self, variable: str, path: Sequence[PathItem] = ()) -> str: ...


@dataclass(frozen=True)
class OtVariable:
    name: str
    required: bool
    expected: str
    description: str
    example: str


def _choices(enum: type[StrEnum]) -> str:
    return "one of " + ", ".join(member.value for member in enum)


PURDUE_TEXT = "one of " + ", ".join(f"{v:g}" for v in PURDUE_LEVELS)
WINDOW_TEXT = (
    "a list of windows: weekly {days: [mon..sun], start: \"HH:MM\", duration_minutes: N, timezone: TZ} "
    "or one-off {start: ISO-8601 with offset, end: ISO-8601 with offset}"
)
PRODUCT_TEXT = "a list of {vendor, product, version, package?, kind: software|firmware}"

OT_VARIABLES: tuple[OtVariable, ...] = (
    OtVariable("ot_site", True, "a site name (text)", "Plant or site the asset belongs to.", "plant-north"),
    OtVariable(
        "ot_zone", True, "a zone name (text)", "Security zone / cell (IEC 62443 zones and conduits).",
        "cell-a-control",
    ),
    OtVariable(
        "ot_purdue_level", True, PURDUE_TEXT,
        "Level in the Purdue model: 0 process, 1 control, 2 supervisory, 3 operations, 3.5 DMZ, "
        "4-5 enterprise.",
        "2",
    ),
    OtVariable("ot_role", True, _choices(Role), "What the asset does.", "hmi"),
    OtVariable(
        "ot_criticality", True, _choices(Criticality),
        "How much the process depends on it; drives wave order and approvals.", "high",
    ),
    OtVariable(
        "ot_safety_system", False, "a boolean (true/false)",
        "Part of a safety instrumented system (SIS): needs an explicit approval in the plan.", "false",
    ),
    OtVariable(
        "ot_redundancy_group", False, "a group name (text) or absent",
        "Members of one redundancy group are never patched in the same wave.", "scada-ab",
    ),
    OtVariable(
        "ot_maintenance_windows", False, WINDOW_TEXT,
        "When the asset may be touched. A host without a window is never started by `otorch run`.",
        '[{days: [sat, sun], start: "02:00", duration_minutes: 240, timezone: Europe/Berlin}]',
    ),
    OtVariable(
        "ot_installed_products", False, PRODUCT_TEXT,
        "Vendor software and firmware on the asset, matched against advisories.",
        "[{vendor: Northwind Controls, product: NWC HMI Runtime, version: \"1.0.0\", "
        "package: nwc-hmi-runtime}]",
    ),
    OtVariable(
        "ot_os", False, "{family: debian|windows|..., version: text}",
        "Operating system family and version.", '{family: debian, version: "12"}',
    ),
    OtVariable(
        "ot_depends_on", False, "a list of inventory hostnames of this inventory",
        "Hosts that must be patched (and verified) before this one.", "[nw-hist-01]",
    ),
    OtVariable(
        "ot_managed", False, "a boolean (true/false)",
        "`false` marks a host of the inventory that is not an OT asset (jump host, bastion): it is skipped "
        "with a note instead of being reported as a problem.", "true",
    ),
)
KNOWN: dict[str, OtVariable] = {v.name: v for v in OT_VARIABLES}
REQUIRED: tuple[str, ...] = tuple(v.name for v in OT_VARIABLES if v.required)
CONNECTION_VAR = "ansible_connection"
CONNECTIONS: dict[str, str] = {
    "ssh": "ssh", "paramiko": "ssh", "paramiko_ssh": "ssh", "smart": "ssh",
    "winrm": "winrm", "psrp": "winrm",
}

# ansible.module_utils.parsing.convert_bool.boolean(): the values Ansible accepts as booleans
_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})


@dataclass(frozen=True)
class HostResult:
    asset: Asset | None
    problems: tuple[FieldProblem, ...]
    notes: tuple[Note, ...]


def closest(name: str, candidates: Sequence[str]) -> str | None:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


def suggestion(name: str, candidates: Sequence[str]) -> str:
    match = closest(name, candidates)
    return f"; did you mean {match!r}?" if match else ""


def path_text(variable: str, path: Sequence[PathItem]) -> str:
    text = variable
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else f".{item}"
    return text


def ansible_bool(value: object) -> bool | None:
    """Ansible's reading of a boolean (`true`, `yes`, `on`, `1`, ... any case); None when it is none."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def is_ot_host(variables: Mapping[str, object]) -> bool:
    return any(k.startswith("ot_") and k != "ot_managed" for k in variables)


def unknown_variable_notes(host: HostVars) -> tuple[Note, ...]:
    notes = []
    for name in sorted(host.variables):
        if name.startswith("ot_") and name not in KNOWN:
            notes.append(
                Note(
                    "warning", host.name,
                    f"unknown OT variable (ignored){suggestion(name, list(KNOWN))}",
                    host.source_of(name), variable=name,
                )
            )
    return tuple(notes)


class _Collector:
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
        self, variable: str, path: Sequence[PathItem], exc: ValidationError, model: type[BaseModel]
    ) -> None:
        """Translate a pydantic ValidationError into readable problems (never dump it)."""
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            value = MISSING if error["type"] == "missing" else error.get("input", MISSING)
            self.bad(variable, (*path, *loc), value, _expected(error, model))


def _expected(error: Any, model: type[BaseModel]) -> str:
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


def _text(c: _Collector, variable: str, value: object, path: Sequence[PathItem] = ()) -> str | None:
    """Non-empty text. Integers are accepted (lossless); floats, booleans and structures are not."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        c.bad(variable, path, value, "text" + _quote_hint(value))
        return None
    text = str(value).strip()
    if not text:
        c.bad(variable, path, value, "non-empty text")
        return None
    return text


def _version(c: _Collector, variable: str, value: object, path: Sequence[PathItem]) -> str | None:
    if isinstance(value, float):
        c.bad(
            variable, path, value,
            "a quoted version string exactly as the vendor writes it: YAML reads an unquoted version "
            'as a number and drops digits (1.10 becomes 1.1); write version: "1.10"',
        )
        return None
    return _text(c, variable, value, path)


def _quote_hint(value: object) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return " (quote it in YAML)"
    return ""


def _purdue(c: _Collector, value: object) -> float | None:
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


def _choice(c: _Collector, variable: str, value: object, enum: type[StrEnum]) -> str | None:
    allowed = [m.value for m in enum]
    if isinstance(value, str) and value in allowed:
        return value
    hint = suggestion(value.lower(), allowed) if isinstance(value, str) else ""
    c.bad(variable, (), value, _choices(enum) + hint)
    return None


def _boolean(c: _Collector, variable: str, value: object) -> bool | None:
    result = ansible_bool(value)
    if result is None:
        c.bad(variable, (), value, "a boolean (true/false, yes/no)")
    return result


def _list(c: _Collector, variable: str, value: object, expected: str) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        expected += " (INI [group:vars] values are plain strings: put lists in group_vars/host_vars YAML)"
    c.bad(variable, (), value, expected)
    return None


def _windows(c: _Collector, value: object) -> tuple[MaintenanceWindow, ...]:
    variable = "ot_maintenance_windows"
    items = _list(c, variable, value, WINDOW_TEXT)
    windows: list[MaintenanceWindow] = []
    for index, item in enumerate(items or []):
        if not isinstance(item, Mapping):
            c.bad(variable, (index,), item, WINDOW_TEXT.removeprefix("a list of windows: "))
            continue
        model: type[RecurringWindow] | type[OneOffWindow]
        if "days" in item or "duration_minutes" in item:
            model = RecurringWindow
        elif "end" in item:
            model = OneOffWindow
        else:
            c.bad(
                variable, (index,), item,
                "a weekly window (days, start, duration_minutes[, timezone]) "
                "or a one-off window (start, end)",
            )
            continue
        days = item.get("days")
        if model is RecurringWindow and isinstance(days, str):
            c.bad(variable, (index, "days"), days, f"a list of days, e.g. [{days}]")
            continue
        if model is RecurringWindow and isinstance(days, list):
            wrong = [(n, d) for n, d in enumerate(days) if d not in DAYS]
            for position, day in wrong:
                hint = suggestion(str(day).lower()[:3], DAYS)
                c.bad(variable, (index, "days", position), day, f"one of {', '.join(DAYS)}{hint}")
            if wrong:
                continue
        if model is OneOffWindow and _naive(item):
            c.bad(
                variable, (index,), item,
                "start and end with a UTC offset, e.g. 2026-11-22T02:00:00+00:00 (a time without an offset "
                "is ambiguous)",
            )
            continue
        try:
            windows.append(model.model_validate(item))
        except ValidationError as exc:
            c.pydantic(variable, (index,), exc, model)
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


def _products(c: _Collector, value: object) -> tuple[InstalledProduct, ...]:
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
                data[key] = _text(c, variable, data[key], (index, key))
        if "version" in data:
            data["version"] = _version(c, variable, data["version"], (index, "version"))
        if len(c.problems) > before:
            continue
        try:
            products.append(InstalledProduct.model_validate(data))
        except ValidationError as exc:
            c.pydantic(variable, (index,), exc, InstalledProduct)
    return tuple(products)


def _os(c: _Collector, value: object) -> OperatingSystem | None:
    variable = "ot_os"
    if not isinstance(value, Mapping):
        c.bad(variable, (), value, KNOWN[variable].expected)
        return None
    data = dict(value)
    before = len(c.problems)
    if "family" in data:
        data["family"] = _text(c, variable, data["family"], ("family",))
    if "version" in data:
        data["version"] = _version(c, variable, data["version"], ("version",))
    if len(c.problems) > before:
        return None
    try:
        return OperatingSystem.model_validate(data)
    except ValidationError as exc:
        c.pydantic(variable, (), exc, OperatingSystem)
        return None


def _depends_on(c: _Collector, value: object) -> tuple[str, ...]:
    variable = "ot_depends_on"
    items = _list(c, variable, value, KNOWN[variable].expected)
    names = [_text(c, variable, item, (index,)) for index, item in enumerate(items or [])]
    return tuple(n for n in names if n is not None)


def _connection(c: _Collector, value: object) -> str | None:
    if isinstance(value, str):
        name = value.strip().removeprefix("ansible.builtin.")
        if name in CONNECTIONS:
            return CONNECTIONS[name]
    expected = "ssh (default) or winrm"
    if isinstance(value, str) and "{{" in value:
        expected += " written literally (intake does not evaluate templates)"
    c.bad(CONNECTION_VAR, (), value, expected)
    return None


def _missing_text(name: str, variables: Mapping[str, object]) -> str:
    text = f"{KNOWN[name].expected} (required)"
    unknown = [k for k in variables if k.startswith("ot_") and k not in KNOWN]
    typos = [k for k in unknown if closest(k, list(KNOWN)) == name]
    if typos:
        return text + f"; {typos[0]} is set: a typo?"
    if name == "ot_role":
        return text + "; not an OT asset? mark it `ot_managed: false` or use --skip-group GROUP"
    return text


def asset_from_host(host: HostVars) -> HostResult:
    """Validate one host's OT variables into an Asset, or collect every problem found."""
    c = _Collector(host)
    v = host.variables
    notes = unknown_variable_notes(host)
    if not is_ot_host(v):
        c.bad(
            "ot_role", (), MISSING,
            "an OT asset's variables: not an OT asset: missing ot_role and every other ot_* variable "
            "(set them, or exclude the host with `ot_managed: false` or --skip-group GROUP)",
        )
        return HostResult(None, tuple(c.problems), notes)
    for name in REQUIRED:
        if name not in v:
            c.bad(name, (), MISSING, _missing_text(name, v))

    fields: dict[str, Any] = {"name": host.name, "groups": host.groups}
    simple: dict[str, Callable[[object], object]] = {
        "ot_site": lambda x: _text(c, "ot_site", x),
        "ot_zone": lambda x: _text(c, "ot_zone", x),
        "ot_purdue_level": lambda x: _purdue(c, x),
        "ot_role": lambda x: _choice(c, "ot_role", x, Role),
        "ot_criticality": lambda x: _choice(c, "ot_criticality", x, Criticality),
        "ot_safety_system": lambda x: _boolean(c, "ot_safety_system", x),
        "ot_redundancy_group": lambda x: None if x is None else _text(c, "ot_redundancy_group", x),
        "ot_maintenance_windows": lambda x: () if x is None else _windows(c, x),
        "ot_installed_products": lambda x: () if x is None else _products(c, x),
        "ot_os": lambda x: _os(c, x),
        "ot_depends_on": lambda x: () if x is None else _depends_on(c, x),
        CONNECTION_VAR: lambda x: _connection(c, x),
    }
    for variable, check in simple.items():
        if variable in v:
            result = check(v[variable])
            if result is not None or variable == "ot_redundancy_group":
                fields[_FIELD[variable]] = result
    if c.problems:
        return HostResult(None, tuple(c.problems), notes)
    try:
        asset = Asset.model_validate(fields)
    except ValidationError as exc:  # a rule of the model the checks above do not know yet
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            variable = _VARIABLE.get(str(loc[0]), str(loc[0])) if loc else "(host)"
            c.bad(variable, loc[1:], error.get("input", MISSING), _expected(error, Asset))
        return HostResult(None, tuple(c.problems), notes)
    return HostResult(asset, (), notes)


_FIELD: dict[str, str] = {
    "ot_site": "site",
    "ot_zone": "zone",
    "ot_purdue_level": "purdue_level",
    "ot_role": "role",
    "ot_criticality": "criticality",
    "ot_safety_system": "safety_system",
    "ot_redundancy_group": "redundancy_group",
    "ot_maintenance_windows": "maintenance_windows",
    "ot_installed_products": "installed_products",
    "ot_os": "os",
    "ot_depends_on": "depends_on",
    CONNECTION_VAR: "connection",
}
_VARIABLE: dict[str, str] = {field: variable for variable, field in _FIELD.items()}
