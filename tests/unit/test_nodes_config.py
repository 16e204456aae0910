"""The site's node configuration (nodes.yml): validation with file:line: field errors and did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from otorchestrator.nodes.config import NodesConfigError, check_zones, load_nodes, nodes_file

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGHE04SdS7l3q2Tc1Fuf7UyV6S6ce964+dw1bCJ6crMl"
GOOD = f"""\
schema_version: 1
require_nodes: true
nodes:
  - name: node-a
    host: 127.0.0.1
    port: 2222
    key: keys/a
    host_key: {KEY} comment
    zones: [cell-a-control]
  - name: node-b
    host: 10.0.0.5
    key: /etc/otorch/keys/b
    host_key: {KEY}
    zones: [idmz, supervisory]
    forks: 10
"""
ZONES = {"cell-a-control": ["nw-hmi-01"], "idmz": ["nw-gw-01"], "supervisory": ["nw-scada-a"], "sis": []}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nodes.yml"
    path.write_text(text)
    return path


def test_good_file(tmp_path: Path) -> None:
    cfg = load_nodes(_write(tmp_path, GOOD))
    a = cfg.node_for("cell-a-control")
    assert a is not None and a.name == "node-a" and a.forks == 5 and a.host_key == KEY
    assert cfg.key_path(a) == (tmp_path / "keys" / "a").resolve()
    b = cfg.node_for("supervisory")
    assert b is not None and cfg.key_path(b) == Path("/etc/otorch/keys/b") and b.work_dir == "/dev/shm"
    assert cfg.node_for("sis") is None
    assert check_zones(cfg, ZONES) == []  # sis has no hosts: no node needed


def test_unknown_field_names_line_and_close_spelling(tmp_path: Path) -> None:
    with pytest.raises(NodesConfigError) as err:
        load_nodes(_write(tmp_path, GOOD.replace("    forks: 10", "    frks: 10")))
    (problem,) = err.value.problems
    assert problem == f"{tmp_path / 'nodes.yml'}:15: nodes[1].frks: unknown field (did you mean 'forks'?)"


def test_bad_values_each_reported_with_line(tmp_path: Path) -> None:
    text = GOOD.replace("port: 2222", "port: 99999").replace(f"host_key: {KEY}\n", "host_key: AAAA\n")
    with pytest.raises(NodesConfigError) as err:
        load_nodes(_write(tmp_path, text))
    lines = err.value.problems
    assert any(p.startswith(f"{tmp_path / 'nodes.yml'}:6: nodes[0].port:") for p in lines), lines
    assert any(":13: nodes[1].host_key:" in p and "ssh-ed25519" in p for p in lines), lines


def test_a_zone_served_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NodesConfigError, match="zone 'idmz' is served by node-a and node-b"):
        load_nodes(_write(tmp_path, GOOD.replace("zones: [cell-a-control]", "zones: [idmz]")))


def test_unknown_zone_and_zone_without_node(tmp_path: Path) -> None:
    cfg = load_nodes(_write(tmp_path, GOOD.replace("zones: [cell-a-control]", "zones: [cell-a-contrl]")))
    problems = check_zones(cfg, ZONES)
    assert any(
        "node-a serves unknown zone 'cell-a-contrl' (did you mean 'cell-a-control'?)" in p for p in problems
    )
    assert any("zone 'cell-a-control' has hosts (nw-hmi-01) and no node serves it" in p for p in problems)


def test_required_list_and_optional_zones(tmp_path: Path) -> None:
    text = GOOD.replace("require_nodes: true", "require_nodes: [idmz, engineerin]")
    text = text.replace("zones: [cell-a-control]", "zones: [sis]")
    problems = check_zones(load_nodes(_write(tmp_path, text)), {**ZONES, "engineering": ["nw-ews-01"]})
    assert problems == [
        f"{tmp_path / 'nodes.yml'}: require_nodes: unknown zone 'engineerin' (did you mean 'engineering'?)"
    ]  # cell-a-control has hosts but is not required: it runs direct


def test_nodes_file_lookup(tmp_path: Path) -> None:
    assert nodes_file(tmp_path, env={}) is None
    path = _write(tmp_path, GOOD)
    assert nodes_file(tmp_path, env={}) == path
    assert nodes_file(tmp_path / "hosts.yml", env={}) == path
    assert nodes_file(tmp_path, env={"OTORCH_NODES": "/x/n.yml"}) == Path("/x/n.yml")
