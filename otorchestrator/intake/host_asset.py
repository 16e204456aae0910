"""One host's variables -> an Asset, or every problem found (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from otorchestrator.intake.ot_vars import (
    CONNECTION_VAR,
    FIELD_OF,
    KNOWN,
    REQUIRED,
    VARIABLE_OF,
    HostVars,
    closest_variable,
    is_ot_host,
    unknown_variable_notes,
)
from otorchestrator.intake.problems import MISSING, FieldProblem, Note
from otorchestrator.intake.value_checks import (
    Collector,
    check_boolean,
    check_choice,
    check_connection,
    check_depends_on,
    check_os,
    check_products,
    check_purdue,
    check_text,
    check_windows,
    expected_text,
)
from otorchestrator.models.asset import Asset, Criticality, Role

# Why a Windows host is refused (docs/inventory.md "Windows hosts"): backup and rollback exist for dpkg-based
# hosts only, and a host that cannot be rolled back is never patched.
WINDOWS_REFUSED = (
    "a dpkg-based Linux host: Windows hosts are not supported (no backup or rollback route exists for "
    "them, and nothing has been run against a real Windows host); exclude it with `ot_managed: false` "
    "or --skip-group GROUP"
)


@dataclass(frozen=True)
class HostResult:
    asset: Asset | None
    problems: tuple[FieldProblem, ...]
    notes: tuple[Note, ...]


def _missingcheck_text(name: str, variables: Mapping[str, object]) -> str:
    text = f"{KNOWN[name].expected} (required)"
    unknown = [k for k in variables if k.startswith("ot_") and k not in KNOWN]
    typos = [k for k in unknown if closest_variable(k) == name]
    if typos:
        return text + f"; {typos[0]} is set: a typo?"
    if name == "ot_role":
        return text + "; not an OT asset? mark it `ot_managed: false` or use --skip-group GROUP"
    return text


def asset_from_host(host: HostVars) -> HostResult:
    """Validate one host's OT variables into an Asset, or collect every problem found."""
    c = Collector(host)
    v = host.variables
    notes = unknown_variable_notes(host)
    if not is_ot_host(v):
        c.bad(
            "ot_role",
            (),
            MISSING,
            "an OT asset's variables: not an OT asset: missing ot_role and every other ot_* variable "
            "(set them, or exclude the host with `ot_managed: false` or --skip-group GROUP)",
        )
        return HostResult(None, tuple(c.problems), notes)
    for name in REQUIRED:
        if name not in v:
            c.bad(name, (), MISSING, _missingcheck_text(name, v))

    fields: dict[str, Any] = {"name": host.name, "groups": host.groups}
    simple: dict[str, Callable[[object], object]] = {
        "ot_site": lambda x: check_text(c, "ot_site", x),
        "ot_zone": lambda x: check_text(c, "ot_zone", x),
        "ot_purdue_level": lambda x: check_purdue(c, x),
        "ot_role": lambda x: check_choice(c, "ot_role", x, Role),
        "ot_criticality": lambda x: check_choice(c, "ot_criticality", x, Criticality),
        "ot_safety_system": lambda x: check_boolean(c, "ot_safety_system", x),
        "ot_redundancy_group": lambda x: None if x is None else check_text(c, "ot_redundancy_group", x),
        "ot_maintenance_windows": lambda x: () if x is None else check_windows(c, x),
        "ot_installed_products": lambda x: () if x is None else check_products(c, x),
        "ot_os": lambda x: check_os(c, x),
        "ot_depends_on": lambda x: () if x is None else check_depends_on(c, x),
        CONNECTION_VAR: lambda x: check_connection(c, x),
    }
    for variable, check in simple.items():
        if variable in v:
            result = check(v[variable])
            if result is not None or variable == "ot_redundancy_group":
                fields[FIELD_OF[variable]] = result
    _refuse_windows(c, fields)
    if c.problems:
        return HostResult(None, tuple(c.problems), notes)
    try:
        asset = Asset.model_validate(fields)
    except ValidationError as exc:  # a rule of the model the checks above do not know yet
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            variable = VARIABLE_OF.get(str(loc[0]), str(loc[0])) if loc else "(host)"
            c.bad(variable, loc[1:], error.get("input", MISSING), expected_text(error, Asset))
        return HostResult(None, tuple(c.problems), notes)
    return HostResult(asset, (), notes)


def _refuse_windows(c: Collector, fields: Mapping[str, Any]) -> None:
    """A Windows host (its `ot_os.family`, or a WinRM/PSRP connection) is a problem, named by the variable
    that says so."""
    os_info = fields.get("os")
    if os_info is not None and os_info.family.strip().lower() == "windows":
        c.bad("ot_os", ("family",), os_info.family, WINDOWS_REFUSED)
    elif fields.get("connection") == "winrm":
        c.bad(CONNECTION_VAR, (), c.host.variables.get(CONNECTION_VAR), WINDOWS_REFUSED)
