"""Inventory intake: an Ansible inventory (read by Ansible itself) -> validated `Inventory` of OT assets.

    load_inventory(path) -> Inventory           raises InventoryError listing every problem
    read_inventory(paths, skip_groups) -> InventoryReport   assets + problems + notes, never raises

Hosts marked `ot_managed: false`, or in a group passed as `skip_groups`, are skipped with a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.collector import collector_paused
from otorchestrator.intake.ansible_source import RawHost, RawInventory, read_ansible_inventory
from otorchestrator.intake.cross_host import asset_notes, dependency_problems
from otorchestrator.intake.host_asset import asset_from_host
from otorchestrator.intake.ot_vars import ansible_bool
from otorchestrator.intake.problems import FieldProblem, InventoryError, Note
from otorchestrator.intake.yaml_syntax import first_error
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
    """Read one or more inventory sources (like repeated `ansible -i`) and report assets, problems, notes.
    A YAML syntax error is reported as file:line:col before Ansible reads anything (Ansible would bury it
    in its plugin output and then fail on a misleading host pattern)."""
    broken = [problem for path in paths for problem in yaml_syntax_problems(path)]
    if broken:
        source = ",".join(str(p) for p in paths)
        return InventoryReport(Inventory(source=source, assets=()), tuple(broken), ())
    # paused across reading and validation: validation's allocations next to Ansible's large heap would
    # otherwise trigger full collections (2.0 s instead of 0.4-0.7 s at 10k assets; otorchestrator/collector)
    with collector_paused():
        return inventory_from_raw(read_ansible_inventory(paths), skip_groups=skip_groups)


@dataclass(frozen=True)
class YamlSyntaxProblem(FieldProblem):
    """A YAML file of the inventory that does not parse; `source` is file:line:col."""

    def __str__(self) -> str:
        return f"{self.source}: YAML syntax error: {self.expected}"


def yaml_syntax_problems(source: Path | str) -> list[FieldProblem]:
    """Every YAML file Ansible would read for `source` (inventory files, group_vars, host_vars), parsed for
    syntax only, with Ansible's parser (yaml_syntax.first_error; tags such as !vault are not constructed)."""
    from otorchestrator.intake.ansible_source import inventory_files

    if not Path(source).exists():
        return []  # Ansible reports a missing source itself
    problems: list[FieldProblem] = []
    for _, file in inventory_files(source):
        if file.suffix.lower() not in (".yml", ".yaml", ""):
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # Ansible reports an unreadable file with its own message
        if file.suffix == "" and not _looks_like_yaml(text):
            continue  # an INI inventory or a script
        exc = first_error(text)
        if exc is not None:
            mark = exc.problem_mark
            where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
            what = exc.problem or "invalid YAML"
            if exc.context:
                what += f" ({exc.context})"
            problems.append(YamlSyntaxProblem("", "(file)", "", what, where))
    return problems


def _looks_like_yaml(text: str) -> bool:
    """A file without extension is YAML for Ansible when its first content line is a YAML mapping key
    or document start, not `[group]` (INI) or a shebang (script)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            if stripped.startswith("#!"):
                return False
            continue
        return stripped == "---" or re.match(r"[\w.-]+\s*:(\s|$)", stripped) is not None
    return False


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
