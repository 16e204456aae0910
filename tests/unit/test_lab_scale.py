"""The scale lab's generated inventory: a realistic plant, valid for the project's own inventory intake."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from otorchestrator.intake.inventory import load_inventory
from otorchestrator.lab.inventory import load_lab_hosts
from otorchestrator.lab.scale import MAX_HOSTS, ScaleError, scale_hosts, write_scale_inventory

LAB = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def _base() -> dict:
    return yaml.safe_load((LAB / "hosts.yml").read_text(encoding="utf-8"))


def test_generated_hosts_fill_up_to_the_total_with_unique_ports_and_plant_metadata() -> None:
    data = scale_hosts(_base(), 24)
    hosts = data["all"]["hosts"]
    assert len(hosts) == 24 and list(hosts)[:8] == list(_base()["all"]["hosts"])  # lab hosts first, in order
    ports = [h["lab_ssh_port"] for h in hosts.values()]
    assert len(set(ports)) == 24 and max(ports) < 22201 + 400
    generated = {n: h for n, h in hosts.items() if n.startswith("nw-gen-")}
    assert len(generated) == 16
    assert {h["ot_site"] for h in generated.values()} == {"plant-north", "plant-south"}
    roles = Counter(h["ot_role"] for h in generated.values())
    assert set(roles) == {"hmi", "historian", "engineering_workstation", "scada_server"}
    pairs = Counter(h["ot_redundancy_group"] for h in generated.values() if "ot_redundancy_group" in h)
    assert pairs and set(pairs.values()) == {2}  # every SCADA pair complete
    assert not any(h["ot_safety_system"] or h["lab_knobs"] for h in generated.values())


def test_generated_hosts_are_in_the_site_zone_role_and_pair_groups() -> None:
    children = scale_hosts(_base(), 14)["all"]["children"]
    assert "nw-gen-01" in children["role_hmi"]["hosts"]
    assert "nw-gen-05" in children["role_scada_server"]["hosts"]
    assert set(children["redundancy_scada_gen_01"]["hosts"]) == {"nw-gen-05", "nw-gen-06"}
    zones = children["site_plant_north"]["children"]
    assert "nw-gen-03" in zones["zone_site_operations"]["hosts"]
    assert "nw-scada-a" in zones["zone_supervisory"]["hosts"]  # the lab's own groups kept


@pytest.mark.parametrize("total", [8, 3, MAX_HOSTS + 1])
def test_a_total_that_is_not_a_scale_lab_is_refused(total: int) -> None:
    with pytest.raises(ScaleError, match=f"--hosts {total}"):
        scale_hosts(_base(), total)


def test_the_written_inventory_is_a_valid_plant_and_a_lab_inventory(tmp_path: Path) -> None:
    target = write_scale_inventory(LAB, tmp_path / "scale", 20)
    assert (target / "group_vars" / "all").is_dir()
    assert [h.name for h in load_lab_hosts(target)][-1] == "nw-gen-12"
    assets = load_inventory(target).by_name()
    assert len(assets) == 20
    pair = assets["nw-gen-05"]
    assert pair.redundancy_group == "scada-gen-01" and pair.criticality.value == "high"
    again = write_scale_inventory(LAB, tmp_path / "scale", 10)  # replaced, not merged
    assert len(load_lab_hosts(again)) == 10
