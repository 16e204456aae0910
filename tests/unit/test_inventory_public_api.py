"""Inventory intake through ansible-core's public APIs only, and the release gate of the lean path.

On a proven release (ansible_private.PROVEN_RELEASES) intake takes the lean path and the private helpers;
on any other release the public path. Both must read the same hosts, groups and variables and find the
same problems; the public path only locates a problem by inventory file instead of file:line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otorchestrator.intake import ansible_private
from otorchestrator.intake.ansible_source import RawInventory, host_variables, read_ansible_inventory
from otorchestrator.intake.inventory import inventory_from_raw

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "inventories"
SOURCES = [
    FIXTURES / "valid_yaml",
    FIXTURES / "valid_ini",
    FIXTURES / "invalid",
    FIXTURES / "precedence",
    ROOT / "inventories" / "lab",
]


def test_the_release_gate() -> None:
    from ansible.release import __version__

    assert ansible_private.release() == tuple(int(p) for p in __version__.split(".")[:2])
    assert ansible_private.proven((2, 19)) and ansible_private.proven((2, 20))
    assert not ansible_private.proven((2, 18)) and not ansible_private.proven((2, 21))
    assert ansible_private.proven()  # the suite runs on proven releases (2.19 on 3.11, 2.20 on 3.12)


def _hosts(raw: RawInventory) -> dict[str, tuple[object, ...]]:
    return {h.name: (h.groups, dict(h.variables), h.inventory_file) for h in raw.hosts}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_public_apis_read_what_the_lean_path_reads(source: Path) -> None:
    lean = read_ansible_inventory([source])
    public = read_ansible_inventory([source], public_only=True)
    assert _hosts(public) == _hosts(lean)
    assert public.problems == lean.problems == ()
    ours, theirs = inventory_from_raw(lean), inventory_from_raw(public)
    assert theirs.inventory == ours.inventory
    # the same problems; only where: the lean path names the line, the public path the inventory file
    assert [(p.host, p.variable, p.value, p.expected) for p in theirs.problems] == [
        (p.host, p.variable, p.value, p.expected) for p in ours.problems
    ]
    files = {ansible_private.relative(h.inventory_file) for h in public.hosts}
    assert {p.source for p in theirs.problems if p.host} <= files
    if source.name == "invalid":
        assert any(p.source.split(":")[0] in files and ":" in p.source for p in ours.problems)


def test_an_unparsable_source_is_a_problem_with_public_apis_only(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text("- just\n- a list\n")  # valid YAML, but no inventory plugin accepts it
    for public_only in (False, True):
        raw = read_ansible_inventory([bad], public_only=public_only)
        [problem] = raw.problems
        assert raw.hosts == () and problem.expected.startswith("an Ansible inventory (")
        assert problem.source == ansible_private.relative(str(bad))
    assert "invalid structure" in read_ansible_inventory([bad]).problems[0].expected  # the plugins' reasons


def test_an_unproven_release_reads_through_public_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    invalid = FIXTURES / "invalid"
    lean = inventory_from_raw(read_ansible_inventory([invalid]))
    monkeypatch.setattr(ansible_private, "release", lambda: (2, 99))
    raw = read_ansible_inventory([invalid])
    assert all(not h.tagged for h in raw.hosts)  # no private Origin tags kept
    unproven = inventory_from_raw(raw)
    assert unproven.inventory == lean.inventory
    assert {p.source for p in unproven.problems if p.host} != {p.source for p in lean.problems if p.host}
    # host_variables falls back to VariableManager.get_vars (it adds the magic variables)
    [(_, variables), *_] = list(host_variables([str(invalid)]))
    assert "inventory_hostname" in variables
