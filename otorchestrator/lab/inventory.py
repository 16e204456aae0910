"""The lab's hosts as the lab needs them (name, ssh port, role, baseline packages, knobs), read straight from
``inventories/lab/hosts.yml`` (plain YAML: the lab must not depend on the intake code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KNOWN_KNOBS = frozenset({"nearly_full_disk", "leave_telemetry"})


class LabInventoryError(ValueError):
    pass


@dataclass(frozen=True)
class LabHost:
    name: str
    base_port: int
    role: str
    purdue_level: float | None
    criticality: str
    zone: str = ""
    packages: tuple[tuple[str, str], ...] = ()  # (package, baseline version)
    knobs: tuple[str, ...] = field(default_factory=tuple)


def _host_entries(group: dict[str, Any], out: dict[str, dict[str, Any]]) -> None:
    for name, hvars in (group.get("hosts") or {}).items():
        merged = out.setdefault(str(name), {})
        merged.update(hvars or {})
    for child in (group.get("children") or {}).values():
        _host_entries(child or {}, out)


def _parse_host(name: str, hv: dict[str, Any], source: Path) -> LabHost:
    where = f"{source}: host {name}"
    if "lab_ssh_port" not in hv:
        raise LabInventoryError(f"{where}: missing lab_ssh_port")
    packages: list[tuple[str, str]] = []
    for i, prod in enumerate(hv.get("ot_installed_products") or []):
        if not isinstance(prod, dict):
            raise LabInventoryError(f"{where}: ot_installed_products[{i}] is not a mapping")
        if prod.get("package") and prod.get("kind", "software") == "software":
            packages.append((str(prod["package"]), str(prod.get("version", ""))))
    knobs = tuple(str(k) for k in (hv.get("lab_knobs") or []))
    unknown = set(knobs) - KNOWN_KNOBS
    if unknown:
        raise LabInventoryError(
            f"{where}: unknown lab_knobs {sorted(unknown)} (known: {sorted(KNOWN_KNOBS)})"
        )
    level = hv.get("ot_purdue_level")
    return LabHost(
        name=name,
        base_port=int(hv["lab_ssh_port"]),
        role=str(hv.get("ot_role", "?")),
        purdue_level=float(level) if level is not None else None,
        criticality=str(hv.get("ot_criticality", "?")),
        zone=str(hv.get("ot_zone", "")),
        packages=tuple(packages),
        knobs=knobs,
    )


def load_lab_hosts(inventory_dir: Path) -> list[LabHost]:
    """All hosts of the lab inventory, in file order (the order of ``otorch lab up --hosts N``)."""
    source = inventory_dir / "hosts.yml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabInventoryError(f"cannot read {source}: {exc}") from exc
    entries: dict[str, dict[str, Any]] = {}
    _host_entries(data.get("all") or {}, entries)
    hosts = [_parse_host(name, hv, source) for name, hv in entries.items()]
    ports = [h.base_port for h in hosts]
    if len(set(ports)) != len(ports):
        raise LabInventoryError(f"{source}: two hosts share a lab_ssh_port")
    return hosts
