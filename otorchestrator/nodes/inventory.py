"""What the nodes need from the site's inventory: every host's merged variables (`ansible-inventory --list`,
as Ansible resolves them), its zone (``ot_zone``) and the address its node connects to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_CACHE: dict[tuple[str, float], dict[str, Any]] = {}
_LOCK = threading.Lock()


class InventoryError(RuntimeError):
    pass


def _mtime(src: Path) -> float:
    files = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]
    return max((p.stat().st_mtime for p in files), default=0.0)


def listing(src: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``ansible-inventory -i src --list`` (cached while no file of the inventory changes)."""
    src = Path(src).resolve()
    key = (str(src), _mtime(src))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    binary = Path(sys.executable).parent / "ansible-inventory"
    argv = [str(binary) if binary.exists() else "ansible-inventory", "-i", str(src), "--list"]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **(env or {})}
    )
    if proc.returncode != 0:
        raise InventoryError(f"ansible-inventory --list {src} failed: {proc.stderr.strip()[-500:]}")
    data: dict[str, Any] = json.loads(proc.stdout)
    with _LOCK:
        _CACHE[key] = data
    return data


def hostvars(data: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    meta = data.get("_meta") or {}
    return meta.get("hostvars") or {}


def all_hosts(data: Mapping[str, Any]) -> set[str]:
    out = set(hostvars(data))
    for body in data.values():
        if isinstance(body, Mapping):
            out.update(body.get("hosts", []) or [])
    return out


def zone_of(data: Mapping[str, Any], host: str) -> str:
    return str(hostvars(data).get(host, {}).get("ot_zone") or "")


def zones(data: Mapping[str, Any], hosts: Iterable[str] | None = None) -> dict[str, list[str]]:
    """zone -> its hosts (of `hosts`, default all), in inventory order."""
    out: dict[str, list[str]] = {}
    wanted = set(hosts) if hosts is not None else None
    for host in hostvars(data):
        if wanted is None or host in wanted:
            out.setdefault(zone_of(data, host), []).append(host)
    return out


def address(data: Mapping[str, Any], host: str) -> tuple[str, int]:
    """Where the node connects for this host: ansible_host (else the name) and ansible_port when it is a
    plain number (a templated port is rendered only by the play: 22 is assumed)."""
    hv = hostvars(data).get(host, {})
    port = hv.get("ansible_port", 22)
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = 22
    return str(hv.get("ansible_host") or host), number
