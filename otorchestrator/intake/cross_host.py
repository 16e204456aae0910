"""Checks across hosts (pure): dependencies name OT hosts of the inventory and form no cycle; notes on
assets that can never be started or whose redundancy partner is missing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from otorchestrator.intake.ansible_source import RawHost
from otorchestrator.intake.ot_vars import suggestion
from otorchestrator.intake.problems import FieldProblem, Note
from otorchestrator.models.asset import Asset


def declared_dependencies(host: RawHost) -> list[str]:
    """The hostnames of a host's `ot_depends_on` when it is a list of names (else its own problem)."""
    value = host.variables.get("ot_depends_on")
    if not isinstance(value, list):
        return []
    return [str(item) for item in value if isinstance(item, str | int) and not isinstance(item, bool)]


def dependency_problems(
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
                first,
                "ot_depends_on",
                hosts[first].variables.get("ot_depends_on"),
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


def asset_notes(assets: Sequence[Asset], hosts: Mapping[str, RawHost]) -> list[Note]:
    notes: list[Note] = []
    for asset in assets:
        if not asset.maintenance_windows:
            notes.append(
                Note(
                    "warning",
                    asset.name,
                    "no maintenance window: `otorch run` will never start this host",
                    hosts[asset.name].source_of("ot_role"),
                    variable="ot_maintenance_windows",
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
                    "warning",
                    names[0],
                    f"redundancy group {group!r} has a single member (a typo, or its partner is missing?)",
                    hosts[names[0]].source_of("ot_redundancy_group"),
                    variable="ot_redundancy_group",
                )
            )
    return notes
