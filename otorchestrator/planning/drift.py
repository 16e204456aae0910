"""Drift: what differs between two scans of one host (pure).

A scan is what the `ot_scan` role reports (contracts.md section 5, phase `scan`): either the whole
`PhaseResult` dump (with `values`) or the `values` mapping itself. Compared: package versions (and a
half-installed dpkg status), config file hashes (only files both scans hashed), service states, and
listening ports (`proto/port`; the bind address is ignored).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class DriftKind(StrEnum):
    PACKAGE = "package"
    CONFIG = "config"
    SERVICE = "service"
    PORT = "port"


_ABSENT = {
    DriftKind.PACKAGE: "not installed",
    DriftKind.CONFIG: "absent",
    DriftKind.SERVICE: "not present",
    DriftKind.PORT: "not listening",
}


class Difference(BaseModel):
    """One thing that is not as it was. `before` / `after` are None when the thing did not exist."""

    model_config = ConfigDict(frozen=True)

    kind: DriftKind
    subject: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        absent = _ABSENT[self.kind]
        before = absent if self.before is None else self.before
        after = absent if self.after is None else self.after
        if self.kind is DriftKind.CONFIG:
            before, after = _short_hash(before), _short_hash(after)
        return f"{self.kind.value} {self.subject}: {before} -> {after}"


def _short_hash(value: str) -> str:
    return value[:12] if re.fullmatch(r"[0-9a-f]{64}", value) else value


def scan_values(scan: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `values` of a scan given either as a PhaseResult dump or as the values themselves."""
    values = scan.get("values")
    return values if isinstance(values, Mapping) else scan


def _str_map(raw: Any) -> dict[str, str | None]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): (None if v is None or v == "" else str(v)) for k, v in raw.items()}


def listening_ports(values: Mapping[str, Any]) -> set[str]:
    """`proto/port` for every listening socket (from `listening`, else `listening_tcp_ports`)."""
    ports: set[str] = set()
    for entry in values.get("listening") or ():
        parts = str(entry).split()
        if len(parts) == 2 and ":" in parts[1]:
            port = parts[1].rsplit(":", 1)[1]
            if port.isdigit():
                ports.add(f"{parts[0]}/{port}")
    if not ports:
        ports = {f"tcp/{int(p)}" for p in values.get("listening_tcp_ports") or ()}
    return ports


def _map_diff(
    kind: DriftKind, before: Mapping[str, str | None], after: Mapping[str, str | None], keys: Iterable[str]
) -> list[Difference]:
    return [
        Difference(kind=kind, subject=key, before=before.get(key), after=after.get(key))
        for key in sorted(keys)
        if before.get(key) != after.get(key)
    ]


def compare_scans(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    ignore_services: Collection[str] = (),
    ignore_ports: Collection[str] = (),
) -> tuple[Difference, ...]:
    """Every difference from `before` to `after`, ordered by kind then subject.

    `ignore_ports` takes `proto/port` strings (e.g. `udp/68` for a DHCP client).
    """
    b, a = scan_values(before), scan_values(after)
    diffs: list[Difference] = []

    b_pkgs, a_pkgs = _str_map(b.get("packages")), _str_map(a.get("packages"))
    diffs += _map_diff(DriftKind.PACKAGE, b_pkgs, a_pkgs, set(b_pkgs) | set(a_pkgs))
    b_status, a_status = _str_map(b.get("package_status")), _str_map(a.get("package_status"))
    for name in sorted(set(b_status) | set(a_status)):
        if b_status.get(name) != a_status.get(name):
            diffs.append(
                Difference(
                    kind=DriftKind.PACKAGE,
                    subject=f"{name} (dpkg status)",
                    before=b_status.get(name) or "ii",
                    after=a_status.get(name) or "ii",
                )
            )

    b_conf, a_conf = _str_map(b.get("config_sha256")), _str_map(a.get("config_sha256"))
    diffs += _map_diff(DriftKind.CONFIG, b_conf, a_conf, set(b_conf) & set(a_conf))

    b_svc, a_svc = _str_map(b.get("services")), _str_map(a.get("services"))
    keys = (set(b_svc) | set(a_svc)) - set(ignore_services)
    diffs += _map_diff(DriftKind.SERVICE, b_svc, a_svc, keys)

    b_ports, a_ports = listening_ports(b) - set(ignore_ports), listening_ports(a) - set(ignore_ports)
    for port in sorted(b_ports ^ a_ports, key=_port_key):
        listening = "listening"
        diffs.append(
            Difference(
                kind=DriftKind.PORT,
                subject=port,
                before=listening if port in b_ports else None,
                after=listening if port in a_ports else None,
            )
        )
    return tuple(diffs)


def _port_key(value: str) -> tuple[str, int]:
    proto, _, port = value.partition("/")
    return proto, int(port) if port.isdigit() else 0
