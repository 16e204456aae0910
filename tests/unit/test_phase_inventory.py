"""The phase inventory is read once in-process and equals what `ansible-inventory --list` gave the backend
before (every variable of every host, {{ inventory_dir }} resolved), cut to the phase's hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from otorchestrator.execution import inventory as phase_inv
from otorchestrator.execution.ansible import job_inventory
from otorchestrator.execution.backend import InventoryRef, PhaseRequest
from otorchestrator.models.results import Phase

LAB = Path(__file__).parents[2] / "inventories" / "lab"


def _ansible_inventory_list(src: Path) -> dict:  # type: ignore[type-arg]
    binary = Path(sys.executable).parent / "ansible-inventory"
    out = subprocess.run([str(binary), "-i", str(src), "--list"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_the_phase_inventory_equals_ansible_inventory_list_cut_to_the_hosts() -> None:
    listing = _ansible_inventory_list(LAB)
    hostvars = listing["_meta"]["hostvars"]
    src = LAB.resolve()
    inv = phase_inv.phase_inventory(LAB, ["nw-hmi-01", "nw-scada-a"])
    assert list(inv.hosts) == ["nw-hmi-01", "nw-scada-a"] and inv.source == str(src)
    for host in inv.hosts:
        expected = json.loads(json.dumps(hostvars[host]).replace("{{ inventory_dir }}", str(src)))
        assert dict(inv.hosts[host]) == expected
    assert "{{ inventory_dir }}" not in json.dumps(dict(inv.hosts))
    assert inv.groups["role_hmi"] == ("nw-hmi-01",)  # other members cut away
    assert inv.groups["zone_supervisory"] == ("nw-scada-a",)
    assert "zone_sis" not in inv.groups  # no member among the phase's hosts


def test_hosts_not_in_the_inventory_are_named() -> None:
    with pytest.raises(ValueError, match=r"hosts not in inventory .*lab: nw-nope"):
        phase_inv.phase_inventory(LAB, ["nw-hmi-01", "nw-nope"])


def test_concurrent_phases_read_the_inventory_once(monkeypatch: pytest.MonkeyPatch) -> None:
    phase_inv.forget()
    reads: list[Path] = []
    real = phase_inv._read

    def counting(src: Path) -> phase_inv._Listing:
        reads.append(src)
        return real(src)

    monkeypatch.setattr(phase_inv, "_read", counting)
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda h: phase_inv.phase_inventory(LAB, [h]), ["nw-hmi-01", "nw-hmi-02"] * 4))
    assert len(reads) == 1
    assert {next(iter(i.hosts)) for i in found} == {"nw-hmi-01", "nw-hmi-02"}


def test_a_changed_inventory_is_read_again(tmp_path: Path) -> None:
    src = tmp_path / "hosts.yml"
    src.write_text("all:\n  hosts:\n    a: {ot_zone: z1}\n")
    assert phase_inv.phase_inventory(src, ["a"]).hosts["a"]["ot_zone"] == "z1"
    src.write_text("all:\n  hosts:\n    a: {ot_zone: z2}\n    b: {}\n")
    os.utime(src, (src.stat().st_atime, src.stat().st_mtime + 5))
    assert phase_inv.phase_inventory(src, ["a", "b"]).hosts["a"]["ot_zone"] == "z2"


def test_a_job_inventory_holds_the_hosts_and_their_groups_only() -> None:
    inv = phase_inv.phase_inventory(LAB, ["nw-hmi-01", "nw-hmi-02"])
    doc = job_inventory(inv, ["nw-hmi-02"])
    assert list(doc["all"]["hosts"]) == ["nw-hmi-02"]
    assert doc["all"]["children"]["role_hmi"] == {"hosts": {"nw-hmi-02": None}}
    assert "zone_cell_a_control" not in doc["all"]["children"]
    with pytest.raises(ValueError, match="hosts not in the phase inventory"):
        job_inventory(inv, ["nw-gw-01"])


def test_an_inventory_reference_is_refused_by_the_local_backend(tmp_path: Path) -> None:
    from otorchestrator.execution.ansible import AnsibleRunnerBackend

    request = PhaseRequest(phase=Phase.SCAN, hosts=("h",), inventory=InventoryRef(ref="awx:42"))
    backend = AnsibleRunnerBackend(tmp_path / "state", shm_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot resolve the inventory reference 'awx:42'"):
        backend.run_phase(request)
    assert not (tmp_path / "state" / "runner").exists()  # refused before any job directory
