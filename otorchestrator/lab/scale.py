"""A scale lab: the lab inventory's hosts plus generated ones, for benchmarks beyond the 8 hand-written hosts.

`otorch lab up --hosts N` with N above the inventory's count writes ``.lab/scale/`` (an Ansible inventory:
``hosts.yml`` with every host, ``group_vars`` copied from ``inventories/lab``) and starts its hosts. The
generated hosts look like a plant's: cells of HMIs, historians, engineering workstations and redundant
SCADA pairs, spread over two sites and their zones, each running the Northwind products the signed
repository carries at their baseline version. No fault knobs: a generated host is a healthy one.

Pure: `scale_hosts` turns the base inventory's data into the scale inventory's data; `write_scale_inventory`
is the only function here that touches the disk.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

MAX_HOSTS = 60  # ports: base 22201 + N stays below the execution tests' +400 shift
FIRST_PORT = 22201

# (role, zone, Purdue level, criticality, product, package), cycled; the scada rows come in pairs
_PATTERN: tuple[tuple[str, str, int, str, str, str], ...] = (
    ("hmi", "cell-{cell}-control", 2, "medium", "NWC HMI Runtime", "nwc-hmi-runtime"),
    ("hmi", "cell-{cell}-control", 2, "low", "NWC HMI Runtime", "nwc-hmi-runtime"),
    ("historian", "site-operations", 3, "medium", "NWC Historian", "nwc-historian"),
    ("engineering_workstation", "engineering", 3, "low", "NWC HMI Runtime", "nwc-hmi-runtime"),
    ("scada_server", "supervisory", 2, "high", "NWC SCADA Server", "nwc-scada-server"),
    ("scada_server", "supervisory", 2, "high", "NWC SCADA Server", "nwc-scada-server"),
)
_SITES = ("plant-north", "plant-south")


class ScaleError(ValueError):
    pass


def _generated(index: int, port: int, windows: Any, os_: Any) -> tuple[str, dict[str, Any]]:
    """The generated host number `index` (0-based among generated hosts)."""
    role, zone, level, criticality, product, package = _PATTERN[index % len(_PATTERN)]
    cycle = index // len(_PATTERN)
    site = _SITES[cycle % len(_SITES)]
    name = f"nw-gen-{index + 1:02d}"
    host: dict[str, Any] = {
        "lab_ssh_port": port,
        "ot_site": site,
        "ot_zone": zone.format(cell=chr(ord("b") + cycle % 20)),
        "ot_purdue_level": level,
        "ot_role": role,
        "ot_criticality": criticality,
        "ot_safety_system": False,
        "ot_maintenance_windows": windows,
        "ot_os": os_,
        "ot_depends_on": [],
        "ot_installed_products": [
            {
                "vendor": "Northwind Controls",
                "product": product,
                "version": "1.0.0",
                "package": package,
                "kind": "software",
            }
        ],
        "lab_knobs": [],
    }
    if role == "scada_server":
        host["ot_redundancy_group"] = f"scada-gen-{cycle + 1:02d}"
    return name, host


def scale_hosts(base: dict[str, Any], total: int) -> dict[str, Any]:
    """The base inventory data (``hosts.yml`` as loaded) with generated hosts up to `total` in all."""
    hosts: dict[str, Any] = dict(((base.get("all") or {}).get("hosts")) or {})
    if not hosts:
        raise ScaleError("the base inventory has no hosts under all.hosts")
    if total <= len(hosts):
        raise ScaleError(f"--hosts {total}: the lab inventory has {len(hosts)} hosts; a scale lab is larger")
    if total > MAX_HOSTS:
        raise ScaleError(f"--hosts {total}: at most {MAX_HOSTS} lab hosts (ports and this machine's memory)")
    template = next(iter(hosts.values()))
    windows, os_ = template.get("ot_maintenance_windows"), template.get("ot_os")
    used = {int(h["lab_ssh_port"]) for h in hosts.values()}
    port = FIRST_PORT
    for index in range(total - len(hosts)):
        while port in used:
            port += 1
        name, host = _generated(index, port, windows, os_)
        if name in hosts:
            raise ScaleError(f"the base inventory already has a host {name}")
        hosts[name] = host
        used.add(port)
    children = copy.deepcopy((base.get("all") or {}).get("children") or {})
    for name, host in hosts.items():
        if name.startswith("nw-gen-"):
            _group(children, name, host)
    return {"all": {"hosts": hosts, "children": children}}


def _slug(text: str) -> str:
    return text.replace("-", "_")


def _group(children: dict[str, Any], name: str, host: dict[str, Any]) -> None:
    """Put a generated host in the groups the lab inventory has: site > zone, role, redundancy pair."""
    site = children.setdefault(f"site_{_slug(host['ot_site'])}", {})
    zone = site.setdefault("children", {}).setdefault(f"zone_{_slug(host['ot_zone'])}", {})
    zone.setdefault("hosts", {})[name] = {}
    children.setdefault(f"role_{host['ot_role']}", {}).setdefault("hosts", {})[name] = {}
    if "ot_redundancy_group" in host:
        pair = children.setdefault(f"redundancy_{_slug(host['ot_redundancy_group'])}", {})
        pair.setdefault("hosts", {})[name] = {}


HEADER = """\
# GENERATED by `otorch lab up --hosts {total}` from inventories/lab/hosts.yml: the lab's {base} hosts and
# {extra} generated ones (nw-gen-NN, healthy, no fault knobs). Do not edit: the next `otorch lab up --hosts N`
# writes it again. Use it as any inventory: `otorch plan -i .lab/scale ...`; for the other lab commands set
# OTORCH_LAB_INVENTORY=.lab/scale.
"""


def write_scale_inventory(inventory_dir: Path, target: Path, total: int) -> Path:
    """Write the scale inventory for `total` hosts to `target` (replacing what is there); returns `target`."""
    base = yaml.safe_load((inventory_dir / "hosts.yml").read_text(encoding="utf-8")) or {}
    data = scale_hosts(base, total)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(inventory_dir / "group_vars", staging / "group_vars")
    text = yaml.safe_dump(data, sort_keys=False, width=120)
    base_count = len((base.get("all") or {}).get("hosts") or {})
    header = HEADER.format(total=total, base=base_count, extra=total - base_count)
    (staging / "hosts.yml").write_text(header + text, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
