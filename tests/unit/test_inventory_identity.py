"""What intake reads equals `ansible-inventory --list` (a separate process), on the lean path and on the
public-API path: every host, its groups and every variable, on the fixture inventories, the lab inventory
and an inventory of bench/inventory_scale.py's generator (the one its 10k figure is measured on)."""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from otorchestrator.intake.ansible_source import (
    RELEVANT_EXTRA,
    RELEVANT_PREFIX,
    host_variables,
    read_ansible_inventory,
)
from otorchestrator.intake.inventory import inventory_from_raw

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "inventories"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
GENERATED = "generated"  # bench/inventory_scale.py's generator, 260 assets (6 zones, group_vars/ per group)
SOURCES = ["valid_yaml", "valid_ini", "invalid", "precedence", "lab", GENERATED]
PATHS = {"lean": False, "public": True}  # path -> public_only


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("inventory_scale", ROOT / "bench" / "inventory_scale.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    directory = tmp_path_factory.mktemp("bench") / "inv"
    bench.generate(directory, 260)
    return directory


def _source(name: str, generated: Path) -> Path:
    if name == GENERATED:
        return generated
    if name == "lab":  # the file: ansible-inventory would take the site's catalog.yml etc. as sources
        return ROOT / "inventories" / "lab" / "hosts.yml"
    return FIXTURES / name


@functools.cache
def _ansible_inventory_list(source: Path) -> dict[str, Any]:
    command = str(ANSIBLE_INVENTORY) if ANSIBLE_INVENTORY.exists() else shutil.which("ansible-inventory")
    if command is None:
        pytest.skip("ansible-inventory is not installed")
    out = subprocess.run(
        [command, "-i", str(source), "--list"], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    listing: dict[str, Any] = json.loads(out)
    return listing


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=_iso))


def _groups_of(listing: dict[str, Any], host: str) -> set[str]:
    """Every group containing `host` (directly or through children) in an `ansible-inventory --list`."""
    parents: dict[str, set[str]] = {}
    for name, group in listing.items():
        for child in group.get("children", []) if isinstance(group, dict) else []:
            parents.setdefault(child, set()).add(name)
    found = {n for n, group in listing.items() if isinstance(group, dict) and host in group.get("hosts", [])}
    todo = list(found)
    while todo:
        for parent in parents.get(todo.pop(), set()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found - {"all", "ungrouped"}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", SOURCES)
def test_every_variable_equals_ansible_inventory_list(name: str, path: str, generated: Path) -> None:
    """host_variables: the lean composition, or VariableManager.get_vars (the public path's reading)."""
    from ansible import constants as C

    source = _source(name, generated)
    listing = _ansible_inventory_list(source)
    theirs = listing["_meta"]["hostvars"]
    ours = {h.name: (h, v) for h, v in host_variables([str(source)], lean=not PATHS[path])}
    assert set(ours) == set(theirs) and ours
    for host_name, (host, variables) in ours.items():
        visible = {k: v for k, v in variables.items() if k not in C.INTERNAL_STATIC_VARS}
        assert _jsonable(visible) == theirs[host_name], host_name
        assert {g.name for g in host.get_groups()} - {"all", "ungrouped"} == _groups_of(listing, host_name)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", SOURCES)
def test_the_hosts_intake_keeps_equal_ansible_inventory_list(name: str, path: str, generated: Path) -> None:
    """read_ansible_inventory (what validation gets): names, groups and the OT variables, per path."""
    source = _source(name, generated)
    listing = _ansible_inventory_list(source)
    theirs = listing["_meta"]["hostvars"]
    raw = read_ansible_inventory([source], public_only=PATHS[path])
    assert raw.problems == ()
    assert {h.name for h in raw.hosts} == set(theirs)
    for host in raw.hosts:
        relevant = {
            k: v for k, v in theirs[host.name].items() if k.startswith(RELEVANT_PREFIX) or k in RELEVANT_EXTRA
        }
        assert _jsonable(dict(host.variables)) == relevant, host.name
        assert set(host.groups) == _groups_of(listing, host.name), host.name


def test_the_generated_inventory_loads_the_same_assets_on_both_paths(generated: Path) -> None:
    lean = inventory_from_raw(read_ansible_inventory([generated], public_only=False))
    public = inventory_from_raw(read_ansible_inventory([generated], public_only=True))
    assert lean.problems == public.problems == ()
    assert lean.inventory == public.inventory and len(lean.inventory.assets) == 260
