"""Inventory intake: Ansible's reading of the fixtures, OT validation, all problems reported together."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from otorchestrator.intake.ansible_source import host_variables, read_ansible_inventory
from otorchestrator.intake.inventory import InventoryError, load_inventory, read_inventory
from otorchestrator.intake.problems import MISSING, FieldProblem
from otorchestrator.models.asset import Criticality, Inventory, OneOffWindow, RecurringWindow, Role

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "inventories"
VALID_YAML = FIXTURES / "valid_yaml"
VALID_INI = FIXTURES / "valid_ini"
INVALID = FIXTURES / "invalid"
PRECEDENCE = FIXTURES / "precedence"
LAB = ROOT / "inventories" / "lab" / "hosts.yml"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def by_name(inventory: Inventory) -> dict[str, object]:
    return {a.name: a for a in inventory.assets}


def test_yaml_and_ini_inventories_give_identical_assets() -> None:
    from_yaml = load_inventory(VALID_YAML)
    from_ini = load_inventory(VALID_INI)
    assert len(from_yaml.assets) == 8
    assert by_name(from_yaml) == by_name(from_ini)


def test_load_inventory_accepts_str_and_a_single_file() -> None:
    assert by_name(load_inventory(str(VALID_YAML / "hosts.yml"))) == by_name(load_inventory(VALID_YAML))


def test_values_and_precedence() -> None:
    assets = {a.name: a for a in load_inventory(VALID_INI).assets}
    scada_b = assets["nw-scada-02"]
    # host_vars beat group_vars/all; a child group's vars beat the parent's and all's
    assert isinstance(scada_b.maintenance_windows[0], RecurringWindow)
    assert scada_b.maintenance_windows[0].days == ("sun",)
    assert assets["nw-scada-01"].maintenance_windows[0].days == ("sat",)  # type: ignore[union-attr]
    assert scada_b.criticality is Criticality.CRITICAL  # group_vars/scada_servers/ over all's "medium"
    assert assets["nw-hmi-01"].criticality is Criticality.MEDIUM  # from group_vars/all.yml
    assert assets["nw-hmi-02"].criticality is Criticality.LOW  # INI inline host var
    assert scada_b.role is Role.SCADA_SERVER
    assert scada_b.redundancy_group == "scada-ab"
    # INI [group:vars] numbers and group_vars/<group>/ directories
    assert assets["nw-gw-01"].purdue_level == 3.5
    assert len(scada_b.installed_products) == 1  # from group_vars/scada_servers/products.yml
    assert scada_b.groups == ("level3_operations", "plant_north", "scada_servers")
    ews = assets["nw-ews-01"]
    assert ews.connection == "ssh"
    assert ews.os.family == "debian" and ews.os.version == "11"
    assert isinstance(ews.maintenance_windows[0], OneOffWindow)
    sis = assets["nw-sis-01"]
    assert sis.safety_system is True
    assert sis.depends_on == ("nw-scada-01", "nw-scada-02")
    gateway_products = assets["nw-gw-01"].installed_products
    assert [p.kind for p in gateway_products] == ["software", "firmware"]


def test_templates_are_not_evaluated_and_connection_vars_ignored() -> None:
    raw = read_ansible_inventory([VALID_INI])
    ews = next(h for h in raw.hosts if h.name == "nw-ews-01")
    assert set(ews.variables) >= {"ot_role", "ansible_connection"}
    assert "ansible_host" not in ews.variables  # only ot_* and ansible_connection are kept


def test_non_ot_host_marked_unmanaged_is_skipped_with_a_note() -> None:
    report = read_inventory([VALID_INI])
    assert report.ok
    assert [n.host for n in report.skipped] == ["jump01"]
    assert "ot_managed: false" in report.skipped[0].message
    assert "jump01" not in by_name(report.inventory)


def _problem(problems: list[FieldProblem], host: str, variable: str) -> FieldProblem:
    matches = [p for p in problems if p.host == host and p.variable == variable]
    assert matches, f"no problem for {host} {variable}: {[str(p) for p in problems]}"
    return matches[0]


def test_invalid_inventory_reports_every_problem_together() -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(INVALID)
    problems = caught.value.problems
    expected = [
        ("bad-purdue", "ot_purdue_level", 6, "one of 0, 1, 2, 3, 3.5, 4, 5"),
        ("bad-role", "ot_role", "scada-server", "did you mean 'scada_server'"),
        ("missing-criticality", "ot_criticality", MISSING, "ot_critcality is set: a typo?"),
        ("float-version", "ot_installed_products[0].version", 1.1, 'write version: "1.10"'),
        ("float-version", "ot_installed_products[1].verison", "1.0.0", "did you mean 'version'"),
        ("float-version", "ot_installed_products[1].version", MISSING, "required"),
        ("bad-windows", "ot_maintenance_windows[0].days[0]", "saturday", "did you mean 'sat'"),
        ("bad-windows", "ot_maintenance_windows[1].timezone", "Europe/Berln", "IANA time zone"),
        ("bad-windows", "ot_maintenance_windows[3]", None, "an end after the start"),
        ("bad-safety", "ot_safety_system", "maybe", "a boolean"),
        ("bad-safety", "ot_depends_on[0]", "nw-plc-99", "a host of this inventory"),
        ("printer-01", "ot_role", MISSING, "not an OT asset?"),
        ("cycle-a", "ot_depends_on", ["cycle-b"], "cycle-a -> cycle-b -> cycle-a"),
    ]
    for host, variable, value, fragment in expected:
        problem = _problem(problems, host, variable)
        if value is not None:
            assert problem.value == value
        assert fragment in problem.expected, str(problem)
        assert "invalid/hosts.yml" in problem.source
    naive = _problem(problems, "bad-windows", "ot_maintenance_windows[2]")
    assert "UTC offset" in naive.expected
    # values written in the file carry file:line:column
    assert _problem(problems, "bad-purdue", "ot_purdue_level").source.endswith("hosts.yml:12:28")
    # each invalid host is reported, none is half-loaded; the valid ones are still in the report
    report = read_inventory([INVALID])
    assert {a.name for a in report.inventory.assets} == {"cycle-a", "cycle-b"}
    message = str(caught.value)
    assert f"{len(problems)} problems" in message
    assert "pydantic" not in message and "type=" not in message  # translated, not dumped


def test_unknown_ot_variable_is_a_warning_with_the_closest_name() -> None:
    report = read_inventory([INVALID])
    warning = next(n for n in report.warnings if n.variable == "ot_critcality")
    assert warning.host == "missing-criticality"
    assert "did you mean 'ot_criticality'" in warning.message


def test_skip_group_removes_non_ot_hosts() -> None:
    report = read_inventory([INVALID], skip_groups=["printers"])
    assert not [p for p in report.problems if p.host == "printer-01"]
    assert [n.host for n in report.skipped] == ["printer-01"]


def test_host_without_any_ot_variable_is_not_an_ot_asset(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text(
        "[ot]\nplc-gw ot_site=s ot_zone=z ot_purdue_level=1 ot_role=gateway ot_criticality=low\n"
        "[other]\nbastion\n"
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path)
    [problem] = caught.value.problems
    assert (problem.host, problem.variable, problem.value) == ("bastion", "ot_role", MISSING)
    assert "not an OT asset: missing ot_role" in problem.expected
    assert problem.source.endswith("hosts.ini")


def test_ini_strings_are_read_as_ansible_reads_them(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text(
        "[ot]\nh1 ot_site=s ot_zone=z ot_purdue_level=3.5 ot_role=hmi ot_criticality=low "
        "ot_safety_system=yes\n[ot:vars]\not_managed=true\n"
    )
    [asset] = load_inventory(tmp_path / "hosts.ini").assets
    assert asset.purdue_level == 3.5
    assert asset.safety_system is True


def test_structured_value_in_ini_vars_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text(
        "[ot]\nh1 ot_site=s ot_zone=z ot_purdue_level=2 ot_role=hmi ot_criticality=low\n"
        "[ot:vars]\not_depends_on=h2,h3\n"
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path)
    [problem] = caught.value.problems
    assert problem.variable == "ot_depends_on"
    assert "group_vars/host_vars YAML" in problem.expected


def test_missing_source_and_unparsable_source(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path / "nope.yml")
    assert caught.value.problems[0].expected == "an existing inventory file or directory"
    broken = tmp_path / "hosts.yml"
    broken.write_text("all:\n  hosts:\n    h1: {ot_site: [unclosed\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(broken)
    [problem] = caught.value.problems  # found before Ansible reads it: file:line:col, no plugin output
    assert problem.source.startswith(f"{broken}:4:") and "YAML syntax error" in str(problem)


SOURCES = [VALID_YAML, VALID_INI, INVALID, PRECEDENCE]


@pytest.mark.parametrize("source", [*SOURCES, LAB.parent], ids=lambda p: p.name)
def test_lean_reading_equals_variable_manager(source: Path) -> None:
    """The lean path (no redundant parse/copies, group vars composed once per group set) gives exactly
    VariableManager.get_vars()'s variables; only magic variables are left out."""
    if not source.exists():
        pytest.skip(f"{source} does not exist yet")
    from ansible import constants as C

    reference = {h.name: v for h, v in host_variables([str(source)], reference=True)}
    lean = {h.name: v for h, v in host_variables([str(source)], reference=False)}
    assert set(reference) == set(lean)
    for name, variables in reference.items():
        assert set(variables) - set(lean[name]) <= set(C.INTERNAL_STATIC_VARS), name
        assert {k: variables[k] for k in lean[name]} == lean[name], name
    assert read_ansible_inventory([source]) == read_ansible_inventory([source], reference=True)


def test_precedence_edge_cases() -> None:
    hosts = {h.name: h for h in read_ansible_inventory([PRECEDENCE]).hosts}
    assert set(hosts) == {"hmi01", "hmi02", "plc01", "plc02", "plc03"}  # INI range plc[01:03]
    assert hosts["plc02"].variables["ot_criticality"] == "critical"  # host_vars/plc02.json
    assert hosts["plc01"].variables["ot_criticality"] == "medium"  # group_vars/rack.yaml over INI
    assert "zone_rack" in hosts["plc01"].groups  # the constructed plugin config, read through `auto`


@pytest.mark.skipif(not LAB.exists(), reason="inventories/lab/hosts.yml is not written yet")
def test_lab_inventory_validates() -> None:
    inventory = load_inventory(LAB.parent)
    assert inventory.assets
    assert by_name(inventory) == by_name(load_inventory(LAB))


def test_every_bad_field_of_a_window_product_or_os_is_reported_together(tmp_path: Path) -> None:
    """After the first bad field of an item the other fields are still checked; each path once."""
    (tmp_path / "hosts.yml").write_text(
        """
all:
  hosts:
    h1:
      ot_site: s
      ot_zone: z
      ot_purdue_level: 2
      ot_role: hmi
      ot_criticality: low
      ot_maintenance_windows:
        - {days: [sun, funday], start: "25:00", duration_minutes: 0, timezone: Mars/Olympus}
        - {days: sat, start: "02:00", duration_minutes: 60, colour: red}
        - {start: "2026-11-22T02:00:00", end: "2026-11-22T04:00:00", note: x}
      ot_installed_products:
        - {vendor: "  ", product: X, version: 1.10, kind: hardware}
      ot_os: {family: "", version: 7.10, flavour: x}
"""
    )
    report = read_inventory([tmp_path])
    got = sorted(p.variable for p in report.problems)
    assert got == sorted(
        [
            "ot_maintenance_windows[0].days[1]",
            "ot_maintenance_windows[0].start",
            "ot_maintenance_windows[0].duration_minutes",
            "ot_maintenance_windows[0].timezone",
            "ot_maintenance_windows[1].days",
            "ot_maintenance_windows[1].colour",
            "ot_maintenance_windows[2]",
            "ot_maintenance_windows[2].note",
            "ot_installed_products[0].vendor",
            "ot_installed_products[0].version",
            "ot_installed_products[0].kind",
            "ot_os.family",
            "ot_os.version",
            "ot_os.flavour",
        ]
    )
    by_path = {p.variable: p for p in report.problems}
    assert by_path["ot_maintenance_windows[0].days[1]"].expected.startswith("one of mon")
    assert "quoted version" in by_path["ot_installed_products[0].version"].expected
    assert by_path["ot_maintenance_windows[1].days"].expected == "a list of days, e.g. [sat]"
