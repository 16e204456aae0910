"""The phase inventory: read once in-process with ansible-core (intake/ansible_source.py, the same read
`otorch inventory` and planning make), cached while no file of the source changes, cut per phase to the
requested hosts and handed to the backend as data (`HostsInventory`). Thread-safe: hosts of a wave may run
phases concurrently.

Each host's variables are what ``ansible-inventory --list`` puts in ``_meta.hostvars`` (VariableManager
``get_vars(stage="all")`` without Ansible's internal variables, JSON through ansible-inventory's own
encoder: a vaulted value stays ``{"__ansible_vault": ...}``), with ``{{ inventory_dir }}`` and
``{{ inventory_file }}`` replaced by the source's paths (the backend writes its own inventory elsewhere).
Every other template is left to Ansible where it is used.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otorchestrator.execution.backend import HostsInventory

_MAGIC = re.compile(r"\{\{\s*(inventory_dir|inventory_file)\s*\}\}")
_LOCK = threading.Lock()
_CACHE: dict[tuple[str, float], _Listing] = {}


@dataclass(frozen=True)
class _Listing:
    hostvars: Mapping[str, Mapping[str, Any]]
    groups: Mapping[str, tuple[str, ...]]


def phase_inventory(source: Path, hosts: Iterable[str]) -> HostsInventory:
    """`hosts` of the inventory `source` with their variables; ValueError naming hosts it does not hold."""
    src = Path(source).resolve()
    listing = _listing(src)
    wanted = list(dict.fromkeys(hosts))
    missing = [h for h in wanted if h not in listing.hostvars]
    if missing:
        raise ValueError(f"hosts not in inventory {src}: {', '.join(missing)}")
    members = set(wanted)
    groups = {g: tuple(h for h in m if h in members) for g, m in listing.groups.items()}
    return HostsInventory(
        hosts={h: listing.hostvars[h] for h in wanted},
        groups={g: m for g, m in groups.items() if m},
        source=str(src),
    )


def forget() -> None:
    """Drop the cache (tests; a long-lived process after an inventory plugin's source changed)."""
    with _LOCK:
        _CACHE.clear()


def _mtime(src: Path) -> float:
    files = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]
    return max((p.stat().st_mtime for p in files), default=0.0)


def _listing(src: Path) -> _Listing:
    key = (str(src), _mtime(src))
    with _LOCK:  # ansible-core's loader keeps process-wide state: one read at a time
        found = _CACHE.get(key)
        if found is None:
            found = _read(src)
            _CACHE.clear()  # one source per process in practice: older versions of it are stale
            _CACHE[key] = found
        return found


def _read(src: Path) -> _Listing:
    from ansible import constants as C

    from otorchestrator.intake.ansible_source import host_variables

    inv_dir = src if src.is_dir() else src.parent
    hostvars: dict[str, Mapping[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for host, variables in host_variables([src], reference=True):
        kept = {k: v for k, v in variables.items() if k not in C.INTERNAL_STATIC_VARS}
        plain = json.loads(json.dumps(kept, cls=_encoder(), sort_keys=True))
        hostvars[host.name] = _resolve_magic(plain, inv_dir, src)
        for group in host.get_groups():
            if group.name not in ("all", "ungrouped"):
                groups.setdefault(group.name, []).append(host.name)
    if not hostvars:
        raise ValueError(f"inventory {src} holds no hosts")
    return _Listing(hostvars, {g: tuple(m) for g, m in groups.items()})


def _encoder() -> type[json.JSONEncoder]:
    """ansible-inventory's JSON encoder (vaulted values as ``__ansible_vault``, Ansible's types as JSON)."""
    try:
        from ansible._internal._json._profiles import _inventory_legacy

        encoder: type[json.JSONEncoder] = _inventory_legacy.Encoder
    except ImportError:  # ansible-core before 2.19
        from ansible.parsing.ajson import AnsibleJSONEncoder

        encoder = AnsibleJSONEncoder
    return encoder


def _resolve_magic(value: Any, inv_dir: Path, inv_file: Path) -> Any:
    """Replace {{ inventory_dir }} / {{ inventory_file }} with the SOURCE inventory's paths."""
    if isinstance(value, str):
        return _MAGIC.sub(lambda m: str(inv_dir) if m.group(1) == "inventory_dir" else str(inv_file), value)
    if isinstance(value, dict):
        return {k: _resolve_magic(v, inv_dir, inv_file) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_magic(v, inv_dir, inv_file) for v in value]
    return value
