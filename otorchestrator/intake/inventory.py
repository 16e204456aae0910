"""Inventory intake: an Ansible inventory (read by Ansible itself) -> validated `Inventory` of OT assets.

    load_inventory(path) -> Inventory           raises InventoryError listing every problem
    read_inventory(paths, skip_groups) -> InventoryReport   assets + problems + notes, never raises

Hosts marked `ot_managed: false`, or in a group passed as `skip_groups`, are skipped with a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.intake.ansible_source import RawHost, RawInventory, read_ansible_inventory
from otorchestrator.intake.cross_host import asset_notes, dependency_problems
from otorchestrator.intake.host_asset import asset_from_host
from otorchestrator.intake.ot_vars import ansible_bool
from otorchestrator.intake.problems import FieldProblem, InventoryError, Note
from otorchestrator.models.asset import Asset, Inventory

__all__ = [
    "FieldProblem",
    "InventoryError",
    "InventoryReport",
    "Note",
    "inventory_from_raw",
    "load_inventory",
    "read_inventory",
]


@dataclass(frozen=True)
class InventoryReport:
    """Everything intake found. `inventory` holds the valid assets even when there are problems."""

    inventory: Inventory
    problems: tuple[FieldProblem, ...]
    notes: tuple[Note, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def skipped(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.kind == "skipped")

    @property
    def warnings(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.kind == "warning")

    def raise_on_error(self) -> Inventory:
        if self.problems:
            raise InventoryError(self.inventory.source, self.problems, self.notes)
        return self.inventory


def load_inventory(path: Path | str, *, skip_groups: Iterable[str] = ()) -> Inventory:
    """Read an Ansible inventory (file or directory) into validated assets.

    Raises InventoryError listing every problem found.
    """
    return read_inventory([path], skip_groups=skip_groups).raise_on_error()


def read_inventory(paths: Sequence[Path | str], *, skip_groups: Iterable[str] = ()) -> InventoryReport:
    """Read one or more inventory sources (like repeated `ansible -i`) and report assets, problems, notes."""
    return inventory_from_raw(read_ansible_inventory(paths), skip_groups=skip_groups)


def inventory_from_raw(raw: RawInventory, *, skip_groups: Iterable[str] = ()) -> InventoryReport:
    """Pure: hosts with their composed variables -> assets, problems and notes."""
    skip = frozenset(skip_groups)
    problems: list[FieldProblem] = list(raw.problems)
    notes: list[Note] = list(raw.notes)
    assets: list[Asset] = []
    skipped: dict[str, RawHost] = {}
    for host in raw.hosts:
        reason = _skip_reason(host, skip)
        if reason:
            skipped[host.name] = host
            notes.append(Note("skipped", host.name, reason, host.source_of("ot_managed")))
            continue
        result = asset_from_host(host)
        problems.extend(result.problems)
        notes.extend(result.notes)
        if result.asset is not None:
            assets.append(result.asset)
    by_name = {h.name: h for h in raw.hosts}
    valid = {a.name: a for a in assets}
    managed = [h for h in raw.hosts if h.name not in skipped]
    problems.extend(dependency_problems(managed, by_name, skipped))
    notes.extend(asset_notes(assets, by_name))
    if skip - _all_groups(raw.hosts):
        for group in sorted(skip - _all_groups(raw.hosts)):
            notes.append(Note("warning", "", f"--skip-group {group}: no such group", ", ".join(raw.sources)))
    source = ",".join(raw.sources)
    inventory = Inventory(source=source, assets=tuple(valid.values()))
    return InventoryReport(inventory, tuple(problems), tuple(notes))


def _all_groups(hosts: Iterable[RawHost]) -> frozenset[str]:
    return frozenset(g for h in hosts for g in h.groups)


def _skip_reason(host: RawHost, skip: frozenset[str]) -> str:
    if "ot_managed" in host.variables and ansible_bool(host.variables["ot_managed"]) is False:
        return "not an OT asset (ot_managed: false): skipped"
    excluded = sorted(skip.intersection(host.groups))
    if excluded:
        return f"in skipped group {', '.join(excluded)}: skipped"
    return ""
