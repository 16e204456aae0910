"""Ansible host patterns for --limit: every case is compared with ansible-core's own InventoryManager."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

from otorchestrator.intake.patterns import HostPatternError, select_hosts, split_pattern

INVENTORY = {
    "all": {
        "children": {
            "plant": {
                "children": {
                    "role_hmi": {"hosts": {"nw-hmi-01": None, "nw-hmi-02": None, "nw-hmi-10": None}},
                    "role_plc": {"hosts": {"nw-plc-01": None, "nw-plc-02": None}},
                    "safety_systems": {"hosts": {"nw-sis-01": None}},
                }
            },
            "zone_supervisory": {"hosts": {"nw-hmi-01": None, "nw-scada-a": None, "nw-scada-b": None}},
            "zone_control": {"hosts": {"nw-plc-01": None, "nw-plc-02": None, "nw-sis-01": None}},
            "empty_group": {"hosts": {}},
        },
        "hosts": {"nw-hist-01": None},
    }
}

# host -> groups with ancestors, as intake/ansible_source.py gives them (without all / ungrouped)
MEMBERS = {
    "nw-hist-01": (),
    "nw-hmi-01": ("plant", "role_hmi", "zone_supervisory"),
    "nw-hmi-02": ("plant", "role_hmi"),
    "nw-hmi-10": ("plant", "role_hmi"),
    "nw-plc-01": ("plant", "role_plc", "zone_control"),
    "nw-plc-02": ("plant", "role_plc", "zone_control"),
    "nw-scada-a": ("zone_supervisory",),
    "nw-scada-b": ("zone_supervisory",),
    "nw-sis-01": ("plant", "safety_systems", "zone_control"),
}

PATTERNS = [
    "all",
    "*",
    "role_hmi",
    "nw-hmi-01",
    "nw-hmi-*",
    "nw-*-01",
    "nw-hmi-0?",
    "nw-scada-[ab]",
    "nw-plc-0[!2]",
    "nw-scada-[!a]",
    "~nw-(hmi|plc)-0[12]",
    "~nw-hmi",  # Ansible's re.match: anchored at the start only
    "~.*-01$",
    "role_hmi,role_plc",
    "role_hmi:role_plc",
    "role_hmi:&zone_supervisory",
    "plant:!safety_systems",
    "plant:!safety_systems:!nw-hmi-02",
    "!role_hmi",  # only exclusions: from all
    "&zone_control",
    "zone_control:&role_plc:!nw-plc-02",
    "!nw-sis-01:zone_control",  # order of terms does not matter: plain, then &, then !
    "role_*",
    "zone_*:&plant",
    "ungrouped",
    "nw-hmi-01,nw-hmi-01",
    " role_hmi , nw-sis-01 ",
    "plant,!role_plc,&zone_control",
]


@pytest.fixture(scope="module")
def ansible_inventory(tmp_path_factory: pytest.TempPathFactory) -> InventoryManager:
    path = tmp_path_factory.mktemp("inv") / "hosts.yml"
    path.write_text(yaml.safe_dump(INVENTORY), encoding="utf-8")
    return InventoryManager(loader=DataLoader(), sources=[str(path)])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_hosts_as_ansible_core(pattern: str, ansible_inventory: InventoryManager) -> None:
    expected = {h.name for h in ansible_inventory.get_hosts(pattern=pattern)}
    assert set(select_hosts(pattern, MEMBERS).hosts) == expected


def test_hosts_keep_inventory_order() -> None:
    assert select_hosts("role_plc,nw-hist-01", MEMBERS).hosts == ("nw-hist-01", "nw-plc-01", "nw-plc-02")


def test_split_like_ansible() -> None:
    assert split_pattern("a:b:&c:!d") == ["a", "b", "&c", "!d"]
    assert split_pattern("a,b:c") == ["a", "b:c"]  # a comma wins: colons stay inside the terms
    assert split_pattern("web[1:3]") == ["web[1:3]"]
    assert split_pattern("fe80::1") == ["fe80::1"]


def test_a_term_matching_nothing_is_refused_with_the_closest_names() -> None:
    with pytest.raises(
        HostPatternError, match=r"!nw-hmi-03 \(did you mean nw-hmi-10, nw-hmi-02, nw-hmi-01"
    ) as err:
        select_hosts("role_hmi,!nw-hmi-03", MEMBERS)
    assert "role_hmi" not in str(err.value).split(":", 1)[1]  # only the term that matched nothing
    with pytest.raises(HostPatternError, match="role_hmx"):
        select_hosts("role_hmx", MEMBERS)
    with pytest.raises(HostPatternError, match="nw-rtu-"):
        select_hosts("nw-rtu-*", MEMBERS)
    # stricter than Ansible (which selects nothing, silently): a group without an OT asset is refused too
    with pytest.raises(HostPatternError, match="empty_group"):
        select_hosts("role_hmi:empty_group", MEMBERS)


def test_digit_brackets_are_subscripts_for_ansible_so_refused(ansible_inventory: InventoryManager) -> None:
    # ansible-core reads nw-plc-0[12] as "host #12 of nw-plc-0": never what the operator meant
    assert {h.name for h in ansible_inventory.get_hosts(pattern="nw-plc-0[12]")} == set()
    with pytest.raises(HostPatternError, match="subscripts"):
        select_hosts("nw-plc-0[12]", MEMBERS)


def test_subscripts_and_bad_regexes_are_refused() -> None:
    with pytest.raises(HostPatternError, match="subscripts"):
        select_hosts("role_hmi[0]", MEMBERS)
    with pytest.raises(HostPatternError, match="subscripts"):
        select_hosts("role_hmi[0:1]", MEMBERS)
    with pytest.raises(HostPatternError, match="not a valid regex"):
        select_hosts("~nw-(hmi", MEMBERS)


def test_limit_file(tmp_path: Path) -> None:
    retry = tmp_path / "site.retry"
    retry.write_text("nw-hmi-02\n\nnw-sis-01\n", encoding="utf-8")
    assert select_hosts(f"@{retry}", MEMBERS).hosts == ("nw-hmi-02", "nw-sis-01")
    assert select_hosts(f"@{retry}:!nw-sis-01", MEMBERS).hosts == ("nw-hmi-02",)
    with pytest.raises(HostPatternError, match="limit file"):
        select_hosts(f"@{tmp_path / 'missing'}", MEMBERS)
