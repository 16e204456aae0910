"""The OT host variables (docs/contracts.md section 3): names, meaning, what is expected, and small helpers.

`host_asset.asset_from_host` turns one host's variables into an Asset with the checks of `value_checks`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from otorchestrator.intake.problems import Note
from otorchestrator.models.asset import PURDUE_LEVELS, Criticality, Role

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


def choices(enum: type[StrEnum]) -> str:
    return "one of " + ", ".join(member.value for member in enum)


PURDUE_TEXT = "one of " + ", ".join(f"{v:g}" for v in PURDUE_LEVELS)
WINDOW_TEXT = (
    'a list of windows: weekly {days: [mon..sun], start: "HH:MM", duration_minutes: N, timezone: TZ} '
    "or one-off {start: ISO-8601 with offset, end: ISO-8601 with offset} or {any_time: true, timezone: TZ}"
)
PRODUCT_TEXT = "a list of {vendor, product, version, package?, kind: software|firmware}"

OT_VARIABLES: tuple[OtVariable, ...] = (
    OtVariable("ot_site", True, "a site name (text)", "Plant or site the asset belongs to.", "plant-north"),
    OtVariable(
        "ot_zone",
        True,
        "a zone name (text)",
        "Security zone / cell (IEC 62443 zones and conduits).",
        "cell-a-control",
    ),
    OtVariable(
        "ot_purdue_level",
        True,
        PURDUE_TEXT,
        "Level in the Purdue model: 0 process, 1 control, 2 supervisory, 3 operations, 3.5 DMZ, "
        "4-5 enterprise.",
        "2",
    ),
    OtVariable("ot_role", True, choices(Role), "What the asset does.", "hmi"),
    OtVariable(
        "ot_criticality",
        True,
        choices(Criticality),
        "How much the process depends on it; drives wave order and approvals.",
        "high",
    ),
    OtVariable(
        "ot_safety_system",
        False,
        "a boolean (true/false)",
        "Part of a safety instrumented system (SIS): needs an explicit approval in the plan.",
        "false",
    ),
    OtVariable(
        "ot_redundancy_group",
        False,
        "a group name (text) or absent",
        "Members of one redundancy group are never patched in the same wave.",
        "scada-ab",
    ),
    OtVariable(
        "ot_maintenance_windows",
        False,
        WINDOW_TEXT,
        "When the asset may be touched. A host without a window is never started by `otorch run`.",
        '[{days: [sat, sun], start: "02:00", duration_minutes: 240, timezone: Europe/Berlin}]',
    ),
    OtVariable(
        "ot_installed_products",
        False,
        PRODUCT_TEXT,
        "Vendor software and firmware on the asset, matched against advisories.",
        '[{vendor: Northwind Controls, product: NWC HMI Runtime, version: "1.0.0", '
        "package: nwc-hmi-runtime}]",
    ),
    OtVariable(
        "ot_os",
        False,
        "{family: debian|windows|..., version: text}",
        "Operating system family and version.",
        '{family: debian, version: "12"}',
    ),
    OtVariable(
        "ot_depends_on",
        False,
        "a list of inventory hostnames of this inventory",
        "Hosts that must be patched (and verified) before this one.",
        "[nw-hist-01]",
    ),
    OtVariable(
        "ot_managed",
        False,
        "a boolean (true/false)",
        "`false` marks a host of the inventory that is not an OT asset (jump host, bastion): it is skipped "
        "with a note instead of being reported as a problem.",
        "true",
    ),
)
KNOWN: dict[str, OtVariable] = {v.name: v for v in OT_VARIABLES}
REQUIRED: tuple[str, ...] = tuple(v.name for v in OT_VARIABLES if v.required)
CONNECTION_VAR = "ansible_connection"
CONNECTIONS: dict[str, str] = {
    "ssh": "ssh",
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
    "smart": "ssh",
    "winrm": "winrm",
    "psrp": "winrm",
}

# ansible.module_utils.parsing.convert_bool.boolean(): the values Ansible accepts as booleans
_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})


def closest(name: str, candidates: Sequence[str]) -> str | None:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


def closest_variable(name: str) -> str | None:
    """The known OT variable an unknown `ot_*` name was probably meant to be (compared without `ot_`)."""
    stems = {known.removeprefix("ot_"): known for known in KNOWN}
    match = closest(name.removeprefix("ot_"), list(stems))
    return stems[match] if match else None


def suggestion(name: str, candidates: Sequence[str]) -> str:
    return _did_you_mean(closest(name, candidates))


def _did_you_mean(match: str | None) -> str:
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
                    "warning",
                    host.name,
                    "unknown OT variable (ignored)" + _did_you_mean(closest_variable(name)),
                    host.source_of(name),
                    variable=name,
                )
            )
    return tuple(notes)


# variable -> Asset field
FIELD_OF: dict[str, str] = {
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
VARIABLE_OF: dict[str, str] = {field: variable for variable, field in FIELD_OF.items()}
