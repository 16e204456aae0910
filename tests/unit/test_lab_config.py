"""Lab configuration and the lab inventory as the lab reads it (no podman needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otorchestrator.lab.config import LabConfig
from otorchestrator.lab.inventory import LabInventoryError, load_lab_hosts

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_env() -> None:
    cfg = LabConfig.from_env({}, root=ROOT)
    assert (cfg.name, cfg.port_offset, cfg.network) == ("otlab", 0, "otlab-net")
    assert cfg.container("nw-gw-01") == "otlab-nw-gw-01"
    other = LabConfig.from_env({"OTORCH_LAB_NAME": "otlabtest", "OTORCH_LAB_PORT_OFFSET": "100"}, root=ROOT)
    assert (other.network, other.port(22201)) == ("otlabtest-net", 22301)


@pytest.mark.parametrize("env", [{"OTORCH_LAB_NAME": "Bad-Name"}, {"OTORCH_LAB_PORT_OFFSET": "x"}])
def test_bad_env_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        LabConfig.from_env(env, root=ROOT)


def test_lab_inventory_hosts() -> None:
    hosts = load_lab_hosts(ROOT / "inventories" / "lab")
    names = [h.name for h in hosts]
    assert len(hosts) == 8 and names[0] == "nw-scada-a"
    by = {h.name: h for h in hosts}
    assert by["nw-hist-01"].knobs == ("nearly_full_disk",)
    assert by["nw-hmi-02"].knobs == ("leave_telemetry",)
    assert ("nwc-eng-suite", "1.0.0") in by["nw-ews-01"].packages
    assert by["nw-gw-01"].purdue_level == 3.5
    assert len({h.base_port for h in hosts}) == 8


def test_unknown_knob_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1: {lab_ssh_port: 1, lab_knobs: [melt]}\n")
    with pytest.raises(LabInventoryError, match="melt"):
        load_lab_hosts(tmp_path)
