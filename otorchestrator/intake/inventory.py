"""Inventory intake: an Ansible inventory (read by Ansible itself) -> validated `Inventory` of OT assets.

    load_inventory(path) -> Inventory           raises InventoryError listing every problem
    read_inventory(paths, skip_groups) -> InventoryReport   assets + problems + notes, never raises

Hosts marked `ot_managed: false`, or in a group passed as `skip_groups`, are skipped with a note.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.intake.ansible_source import RawHost, RawInventory, read_ansible_inventory
from otorchestrator.intake.ot_vars import ansible_bool, asset_from_host, suggestion
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
    problems.extend(_dependency_problems(managed, by_name, skipped))
    notes.extend(_asset_notes(assets, by_name))
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


def declared_dependencies(host: RawHost) -> list[str]:
    """The hostnames of a host's `ot_depends_on` when it is a list of names (else its own problem)."""
    value = host.variables.get("ot_depends_on")
    if not isinstance(value, list):
        return []
    return [str(item) for item in value if isinstance(item, str | int) and not isinstance(item, bool)]


def _dependency_problems(
    managed: Sequence[RawHost], hosts: Mapping[str, RawHost], skipped: Mapping[str, RawHost]
) -> list[FieldProblem]:
    """ot_depends_on must name OT hosts of this inventory, never the host itself, and form no cycle."""
    problems: list[FieldProblem] = []
    graph: dict[str, list[str]] = {}
    for host in managed:
        graph[host.name] = declared_dependencies(host)
        for index, target in enumerate(graph[host.name]):
            expected = ""
            if target == host.name:
                expected = "another host (a host cannot depend on itself)"
            elif target in skipped:
                expected = f"an OT host of this inventory ({target} is skipped as not an OT asset)"
            elif target not in hosts:
                expected = f"a host of this inventory{suggestion(target, list(hosts))}"
            if expected:
                source = host.source_of("ot_depends_on", (index,))
                problems.append(FieldProblem(host.name, f"ot_depends_on[{index}]", target, expected, source))
    for cycle in _cycles(graph):
        first = cycle[0]
        problems.append(
            FieldProblem(
                first, "ot_depends_on", hosts[first].variables.get("ot_depends_on"),
                "no dependency cycle (" + " -> ".join([*cycle, first]) + " can never start)",
                hosts[first].source_of("ot_depends_on"),
            )
        )
    return problems


def _cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each dependency cycle once, as the list of its members starting at the smallest name."""
    found: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        stack: list[Iterator[str]] = [iter(graph.get(root, ()))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if nxt not in graph or nxt == path[-1]:
                continue  # unknown hosts and self-dependencies are reported separately
            if state.get(nxt) == 1:
                members = path[path.index(nxt) :]
                start = members.index(min(members))
                cycle = members[start:] + members[:start]
                found.setdefault(tuple(cycle), cycle)
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph.get(nxt, ())))
    return list(found.values())


def _asset_notes(assets: Sequence[Asset], hosts: Mapping[str, RawHost]) -> list[Note]:
    notes: list[Note] = []
    for asset in assets:
        if not asset.maintenance_windows:
            notes.append(
                Note(
                    "warning", asset.name, "no maintenance window: `otorch run` will never start this host",
                    hosts[asset.name].source_of("ot_role"), variable="ot_maintenance_windows",
                )
            )
    members: dict[str, list[str]] = defaultdict(list)
    for asset in assets:
        if asset.redundancy_group:
            members[asset.redundancy_group].append(asset.name)
    for group, names in sorted(members.items()):
        if len(names) == 1:
            notes.append(
                Note(
                    "warning", names[0],
                    f"redundancy group {group!r} has a single member (a typo, or its partner is missing?)",
                    hosts[names[0]].source_of("ot_redundancy_group"), variable="ot_redundancy_group",
                )
            )
    return notes
