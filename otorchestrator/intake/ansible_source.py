"""Read an inventory exactly as Ansible reads it, with ansible-core's own loader.

`InventoryManager` parses the sources (INI, YAML, directories, scripts, inventory plugins: whatever the
active Ansible configuration enables) and `VariableManager.get_vars(host, stage="all")` composes each host's
variables with Ansible's precedence (all group, parent groups before children, `ansible_group_priority`,
group_vars/ and host_vars/ next to the inventory, host vars last). That is the call `ansible-inventory
--list` makes for `_meta.hostvars`. Nothing is templated: values such as `"{{ inventory_dir }}/key"` stay
as written. On the ansible-core releases where it is proven (`ansible_private.PROVEN_RELEASES`) the same
functions run without their redundant work (`ansible_compose`), and problems name the line of a value; the
unit tests prove the result equal to `VariableManager.get_vars` and to `ansible-inventory --list`. Any other
release is read through public APIs only (`public_only`).

This module, `ansible_compose` and `ansible_private` are the only intake modules that import Ansible.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from otorchestrator.collector import collector_paused
from otorchestrator.intake import ansible_private
from otorchestrator.intake.problems import FieldProblem, Note

# the variables intake reads; everything else (connection details, secrets, templates) is left alone
RELEVANT_PREFIX = "ot_"
RELEVANT_EXTRA = frozenset({"ansible_connection"})

PathItem = str | int
SOURCE_VAR = "(inventory source)"

# A site's inventory directory (inventories/<site>/) also holds its patch catalog, CSAF advisories,
# exemptions, KEV data, wave policy and approvals: not inventory sources. Ansible skips directory entries
# matching its `[inventory] ignore_patterns`, which only the ansible.cfg of the working directory sets; these
# patterns are added to whatever the configuration says, so intake reads the same hosts from any directory.
SITE_IGNORE_PATTERNS = (
    r"^(catalog|exemptions|kev|policy|approvals|nodes)(\.[a-z0-9-]+)*\.(ya?ml|json)$",
    r"^advisories$",
)
VARS_DIRS = ("group_vars", "host_vars")
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")  # what host_group_vars reads (and `name/` directories)


@dataclass(frozen=True)
class RawHost:
    """One host as Ansible sees it, reduced to the variables intake reads.

    `variables` holds plain Python values (Ansible's tagged str/int/dict subclasses converted back);
    `tagged` keeps Ansible's values so that a problem can name the file and line a value came from.
    """

    name: str
    groups: tuple[str, ...]
    variables: Mapping[str, object]
    inventory_file: str
    tagged: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    def source_of(self, variable: str, path: Sequence[PathItem] = ()) -> str:
        """`file:line:col` of the value at `variable` + `path` (the deepest one Ansible tagged)."""
        best = ansible_private.origin(self.tagged.get(variable))
        value: object = self.tagged.get(variable)
        for item in path:
            try:
                value = value[item]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                break
            best = ansible_private.origin(value) or best
        return best or ansible_private.relative(self.inventory_file) or "<inventory>"


@dataclass(frozen=True)
class RawInventory:
    sources: tuple[str, ...]
    hosts: tuple[RawHost, ...]
    problems: tuple[FieldProblem, ...] = ()
    notes: tuple[Note, ...] = ()


def read_ansible_inventory(
    sources: Sequence[Path | str], *, reference: bool = False, public_only: bool | None = None
) -> RawInventory:
    """Parse `sources` with ansible-core and return every host with its composed OT variables.

    `reference=True` takes ansible-inventory's own path (stock DataLoader, VariableManager.get_vars per
    host); the default takes the same functions without their redundant work (see ansible_compose).
    `public_only` (default: the installed release is not a proven one) reads with public APIs only: the
    reference path, problems located by inventory file, Ansible's warnings printed by Ansible.
    """
    names = tuple(str(s) for s in sources)
    missing = [
        FieldProblem("", SOURCE_VAR, s, "an existing inventory file or directory", s)
        for s in names
        if "," not in s and not os.path.exists(s)
    ]
    if missing:
        return RawInventory(names, (), tuple(missing))
    public = not ansible_private.proven() if public_only is None else public_only
    if public:
        return _read_public(names)
    with ansible_private.captured_warnings() as warnings, collector_paused():
        # sorted: Ansible's host order for "all" varies between runs (groups are walked by object identity)
        hosts = tuple(
            sorted(
                (_raw_host(host, variables) for host, variables in host_variables(names, reference)),
                key=lambda h: h.name,
            )
        )
    problems, notes = _classify_warnings(warnings, names)
    return RawInventory(names, hosts, problems, notes)


def _read_public(names: tuple[str, ...]) -> RawInventory:
    """Public APIs only: a source no plugin parses makes Ansible raise (INVENTORY_ANY_UNPARSED_IS_FAILED)."""
    from ansible import constants as C
    from ansible.errors import AnsibleError

    saved = C.INVENTORY_ANY_UNPARSED_IS_FAILED
    C.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    try:
        with collector_paused():
            pairs = list(host_variables(names, reference=True, lean=False))
    except AnsibleError as exc:
        text = " ".join(str(exc.message).split())
        prefix = "Completely failed to parse inventory source "
        path = text[len(prefix) :] if text.startswith(prefix) else ", ".join(names)
        where = ansible_private.relative(path)
        why = f"an Ansible inventory (no inventory plugin accepted it: `ansible-inventory -i {where} --list`)"
        return RawInventory(names, (), (FieldProblem("", SOURCE_VAR, where, why, where),))
    finally:
        C.INVENTORY_ANY_UNPARSED_IS_FAILED = saved
    hosts = tuple(sorted((_raw_host(h, v, tags=False) for h, v in pairs), key=lambda h: h.name))
    return RawInventory(names, hosts)


def host_variables(
    sources: Sequence[Path | str], reference: bool = False, *, lean: bool | None = None
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(Ansible host, its composed variables, untemplated) for every host of `sources`, in Ansible's order.

    The reference path includes magic variables (inventory_hostname, groups, ...); the lean path includes
    those of `host.get_vars()` only. Every other variable is the same (proven by the unit tests). The lean
    path runs only on a proven ansible-core release (`lean` None) or when `lean` says so.
    """
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    from otorchestrator.intake import ansible_compose

    names = [str(s) for s in sources]
    _ensure_plugin_loader()
    _forget_vars_caches()
    allowed = ansible_private.proven() if lean is None else lean
    if reference or not allowed or not ansible_compose.composable():
        loader = DataLoader()
        with site_ignores():
            manager = InventoryManager(loader=loader, sources=names)
        variable_manager = VariableManager(loader=loader, inventory=manager)
        for host in manager.get_hosts("all"):
            yield host, variable_manager.get_vars(host=host, include_hostvars=False, stage="all")
        return
    lean = ansible_compose.LeanLoader()
    with site_ignores():
        manager = InventoryManager(loader=lean, sources=names)
    lean.forget_probes()
    composer = ansible_compose.GroupVarsComposer(lean, manager, names)
    for host in manager.get_hosts("all"):
        yield host, composer.host_vars(host)


def ignored_entries() -> re.Pattern[bytes]:
    """Directory entries Ansible skips in an inventory directory (hidden, group_vars/, host_vars/, the
    configured ignore patterns and extensions), plus SITE_IGNORE_PATTERNS. Matched against bytes names."""
    from ansible.inventory import manager

    configured: re.Pattern[bytes] = manager.IGNORED
    site = b"|".join(p.encode() for p in SITE_IGNORE_PATTERNS)
    if configured.pattern.endswith(b"|" + site) or configured.pattern == site:
        return configured
    return re.compile(configured.pattern + b"|" + site if configured.pattern else site)


@contextlib.contextmanager
def site_ignores() -> Iterator[None]:
    """While inside, ansible-core's InventoryManager skips `ignored_entries()` (it reads the module global
    `IGNORED`, compiled once from the configuration at import)."""
    from ansible.inventory import manager

    saved = manager.IGNORED
    manager.IGNORED = ignored_entries()
    try:
        yield
    finally:
        manager.IGNORED = saved


def inventory_files(source: Path | str) -> list[tuple[str, Path]]:
    """(name, file) for every file Ansible reads for the inventory `source` (a file or a directory), in a
    stable order; the name is relative to the source's base directory (the directory itself, or a file's
    parent), with `/`. A directory is walked as InventoryManager walks it (sorted, `ignored_entries()`
    skipped, subdirectories recursed), then group_vars/ and host_vars/ of the base directory as the
    host_group_vars plugin reads them (.yml, .yaml, .json or no extension; hidden files and backups~
    skipped). A file named as the source is read whatever its name."""
    root = Path(source)
    base = root if root.is_dir() else root.parent
    ignored = ignored_entries()
    found: list[Path] = []

    def walk(path: Path) -> None:
        if path.is_dir():
            for entry in sorted(os.listdir(os.fsencode(path))):
                if not ignored.search(entry):
                    walk(path / os.fsdecode(entry))
        elif path.is_file():
            found.append(path)

    def walk_vars(path: Path) -> None:
        for entry in sorted(os.listdir(path)):
            if entry.startswith(".") or entry.endswith("~"):
                continue
            full = path / entry
            ext = os.path.splitext(entry)[1]
            if full.is_dir() and not ext:
                walk_vars(full)
            elif full.is_file() and ext in VARS_EXTENSIONS:
                found.append(full)

    walk(root)
    for name in VARS_DIRS:
        if (base / name).is_dir():
            walk_vars(base / name)
    return [(f.relative_to(base).as_posix(), f) for f in dict.fromkeys(found)]


def _forget_vars_caches() -> None:
    """Empty the host_group_vars plugin's process-wide caches before a read. It keys the real path of an
    inventory source by the path as given ("." or "site/hosts.yml"), and remembers which group_vars/
    host_vars files exist: a second read in the same process after a change of directory, or after files
    were added, would otherwise get the first read's group_vars. `ansible-inventory` reads once per
    process, so this only makes a second read equal to a first one."""
    try:
        from ansible.plugins.vars import host_group_vars
    except ImportError:  # pragma: no cover - the plugin ships with ansible-core
        return
    for name in ("CANONICAL_PATHS", "FOUND", "NAK"):
        cache = getattr(host_group_vars, name, None)
        if isinstance(cache, dict | set):
            cache.clear()


def _ensure_plugin_loader() -> None:
    """Install Ansible's collection loader once, as every ansible CLI does at start: without it inventory
    and vars plugins named by FQCN (`plugin: ansible.builtin.constructed`, collection plugins) fail."""
    from ansible.plugins.loader import init_plugin_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader()


def _raw_host(host: Any, all_vars: Mapping[str, Any], *, tags: bool = True) -> RawHost:
    tagged = {
        key: value
        for key, value in all_vars.items()
        if key.startswith(RELEVANT_PREFIX) or key in RELEVANT_EXTRA
    }
    groups = tuple(sorted(g.name for g in host.get_groups() if g.name not in ("all", "ungrouped")))
    return RawHost(
        name=str(host.name),
        groups=groups,
        variables={str(k): plain(v) for k, v in tagged.items()},
        inventory_file=str(all_vars.get("inventory_file") or ""),
        tagged=tagged if tags else {},
    )


def plain(value: object) -> object:
    """Ansible's tagged values converted to plain Python types, recursively (bool/None pass through)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value) if type(value) is not str else value
    if isinstance(value, int):
        return int(value) if type(value) is not int else value
    if isinstance(value, float):
        return float(value) if type(value) is not float else value
    if isinstance(value, datetime):
        return datetime.fromisoformat(value.isoformat()) if type(value) is not datetime else value
    if isinstance(value, date):
        return date.fromisoformat(value.isoformat()) if type(value) is not date else value
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def _classify_warnings(
    warnings: Sequence[str], sources: Sequence[str]
) -> tuple[tuple[FieldProblem, ...], tuple[Note, ...]]:
    """An unparsable source is a problem (Ansible only warns and carries on without those hosts)."""
    problems: list[FieldProblem] = []
    notes: list[Note] = []
    details: list[str] = []
    for text in warnings:
        first = text.strip().splitlines()[0] if text.strip() else ""
        if first.startswith("Failed to parse inventory with"):
            details.append(" ".join(line.strip() for line in text.strip().splitlines()))
        elif first.startswith("Unable to parse ") and first.endswith(" as an inventory source"):
            path = first[len("Unable to parse ") : -len(" as an inventory source")]
            why = "; ".join(details) or "no inventory plugin accepted it"
            where = ansible_private.relative(path)
            problems.append(FieldProblem("", SOURCE_VAR, where, f"an Ansible inventory ({why})", where))
            details = []
        elif first.startswith("No inventory was parsed"):
            if not problems:
                joined = ", ".join(sources)
                problems.append(FieldProblem("", SOURCE_VAR, joined, "an Ansible inventory", joined))
        else:
            notes.append(Note("warning", "", f"ansible: {' '.join(text.split())}", ", ".join(sources)))
    return tuple(problems), tuple(notes)
