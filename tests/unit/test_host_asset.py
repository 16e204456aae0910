"""One host's variables -> Asset, without Ansible (pure): value rules and readable problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from otorchestrator.intake.host_asset import asset_from_host
from otorchestrator.intake.ot_vars import ansible_bool
from otorchestrator.intake.problems import MISSING
from otorchestrator.models.asset import Criticality

BASE: dict[str, Any] = {
    "ot_site": "s",
    "ot_zone": "z",
    "ot_purdue_level": 2,
    "ot_role": "hmi",
    "ot_criticality": "low",
}


@dataclass(frozen=True)
class Host:
    variables: Mapping[str, object]
    name: str = "h1"
    groups: tuple[str, ...] = ("g",)
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, variable: str, path: Sequence[str | int] = ()) -> str:
        return f"hosts.yml:{variable}"


def problems_of(**changes: object) -> list[tuple[str, object, str]]:
    variables = {**BASE, **changes}
    result = asset_from_host(Host({k: v for k, v in variables.items() if v is not DROP}))
    assert (result.asset is None) == bool(result.problems)
    return [(p.variable, p.value, p.expected) for p in result.problems]


DROP = object()


def test_minimal_host_and_defaults() -> None:
    result = asset_from_host(Host(BASE))
    assert result.asset is not None
    asset = result.asset
    assert (asset.name, asset.groups, asset.criticality) == ("h1", ("g",), Criticality.LOW)
    assert asset.safety_system is False and asset.connection == "ssh" and asset.os.family == "debian"
    assert asset.maintenance_windows == () and asset.depends_on == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("yes", True), ("False", False), ("off", False), (1, True), (0, False), ("maybe", None)],
)
def test_ansible_booleans(value: object, expected: bool | None) -> None:
    assert ansible_bool(value) is expected


@pytest.mark.parametrize("level", [0, 1, 2, 3, 3.5, 4, 5, "3.5", "2"])
def test_purdue_levels(level: object) -> None:
    assert problems_of(ot_purdue_level=level) == []


@pytest.mark.parametrize("level", [6, -1, 2.5, True, "two", None, [2]])
def test_bad_purdue_levels(level: object) -> None:
    [(variable, value, expected)] = problems_of(ot_purdue_level=level)
    assert variable == "ot_purdue_level" and value == level and expected.startswith("one of 0, 1, 2")


def test_several_problems_on_one_host_are_all_reported() -> None:
    found = problems_of(ot_site=DROP, ot_role="HMI", ot_safety_system="perhaps", ot_zone=["a"])
    assert {v for v, _, _ in found} == {"ot_site", "ot_role", "ot_safety_system", "ot_zone"}
    role = next(e for v, _, e in found if v == "ot_role")
    assert "did you mean 'hmi'" in role
    assert next(val for v, val, _ in found if v == "ot_site") is MISSING


def test_no_ot_variable_at_all_is_one_problem() -> None:
    result = asset_from_host(Host({"ansible_connection": "ssh"}))
    [problem] = result.problems
    assert problem.variable == "ot_role" and "not an OT asset: missing ot_role" in problem.expected


def test_versions_must_not_be_floats_but_ints_are_fine() -> None:
    product = {"vendor": "V", "product": "P"}
    assert problems_of(ot_installed_products=[{**product, "version": 12}]) == []
    [(variable, value, expected)] = problems_of(ot_installed_products=[{**product, "version": 1.1}])
    assert variable == "ot_installed_products[0].version" and value == 1.1 and "quoted" in expected
    [(variable, _, _)] = problems_of(ot_os={"family": "debian", "version": 12.1})
    assert variable == "ot_os.version"


def test_product_problems() -> None:
    found = problems_of(
        ot_installed_products=[{"vendor": "V", "product": "P", "version": "1", "kind": "fw"}, "nwc-hmi 1.0"]
    )
    assert [v for v, _, _ in found] == ["ot_installed_products[0].kind", "ot_installed_products[1]"]
    assert "software, firmware" in found[0][2]


def test_window_shapes() -> None:
    weekly = {"days": ["sat"], "start": "02:00", "duration_minutes": 60}
    assert problems_of(ot_maintenance_windows=[weekly]) == []
    [(variable, _, expected)] = problems_of(ot_maintenance_windows={**weekly})
    assert variable == "ot_maintenance_windows" and expected.startswith("a list of windows")
    [(variable, _, expected)] = problems_of(ot_maintenance_windows=[{**weekly, "days": "sat"}])
    assert variable == "ot_maintenance_windows[0].days" and "[sat]" in expected
    [(variable, _, expected)] = problems_of(ot_maintenance_windows=[{"start": "02:00"}])
    assert "weekly window" in expected and "one-off" in expected
    [(variable, _, expected)] = problems_of(ot_maintenance_windows=[{**weekly, "start": "2:00"}])
    assert variable == "ot_maintenance_windows[0].start" and "HH:MM" in expected
    [(variable, _, expected)] = problems_of(ot_maintenance_windows=[{**weekly, "duration_minutes": 0}])
    assert variable == "ot_maintenance_windows[0].duration_minutes" and expected == "a number greater than 0"
    [(variable, _, expected)] = problems_of(ot_maintenance_windows="[{days: [sat]}]")
    assert "group_vars/host_vars YAML" in expected


def test_any_time_window() -> None:
    """`ot_maintenance_windows: [{any_time: true}]` (DMZ hosts open around the clock); a misspelt zone or
    `any_time: false` is a problem at its path."""
    from otorchestrator.models.asset import AnyTimeWindow

    result = asset_from_host(
        Host({**BASE, "ot_maintenance_windows": [{"any_time": True, "timezone": "Europe/Berlin"}]})
    )
    assert result.asset is not None
    assert result.asset.maintenance_windows == (AnyTimeWindow(any_time=True, timezone="Europe/Berlin"),)
    [(variable, _, _)] = problems_of(ot_maintenance_windows=[{"any_time": True, "timezone": "Europe/Berln"}])
    assert variable == "ot_maintenance_windows[0].timezone"
    [(variable, _, _)] = problems_of(ot_maintenance_windows=[{"any_time": False}])
    assert variable == "ot_maintenance_windows[0].any_time"
    [(_, _, expected)] = problems_of(ot_maintenance_windows=[{"start": "02:00"}])
    assert "any_time: true" in expected


@pytest.mark.parametrize(
    ("changes", "variable", "value"),
    [
        ({"ot_os": {"family": "Windows", "version": "10 LTSC 2021"}}, "ot_os.family", "Windows"),
        ({"ansible_connection": "winrm"}, "ansible_connection", "winrm"),
        ({"ansible_connection": "ansible.builtin.psrp"}, "ansible_connection", "ansible.builtin.psrp"),
        ({"ot_os": {"family": "windows"}, "ansible_connection": "winrm"}, "ot_os.family", "windows"),
    ],
)
def test_a_windows_host_is_refused_with_the_reason(
    changes: dict[str, object], variable: str, value: str
) -> None:
    [(found, shown, expected)] = problems_of(**changes)
    assert (found, shown) == (variable, value)
    assert "Windows hosts are not supported" in expected and "no backup or rollback route" in expected
    assert "ot_managed: false" in expected  # how to leave it out


def test_connection() -> None:
    assert problems_of(ansible_connection="ansible.builtin.ssh") == []
    [(_, _, expected)] = problems_of(ansible_connection="{{ conn }}")
    assert "templates" in expected
    [(_, value, _)] = problems_of(ansible_connection="local")
    assert value == "local"


def test_unknown_variables_warn_with_closest_name() -> None:
    result = asset_from_host(Host({**BASE, "ot_redundancy_grp": "a", "ot_colour": "red"}))
    assert result.asset is not None
    messages = {n.variable: n.message for n in result.notes}
    assert "did you mean 'ot_redundancy_group'" in messages["ot_redundancy_grp"]
    assert "did you mean" not in messages["ot_colour"]


def test_depends_on_must_be_a_list_of_names() -> None:
    assert problems_of(ot_depends_on=["a", "b"]) == []
    [(variable, _, _)] = problems_of(ot_depends_on="a")
    assert variable == "ot_depends_on"
    [(variable, _, _)] = problems_of(ot_depends_on=["a", {"b": 1}])
    assert variable == "ot_depends_on[1]"
