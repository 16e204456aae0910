"""Ansible's own inventory reading, without the work that does not change the result.

`ansible-inventory --list` spends its time in three places (measured in bench/inventory_scale.py):

1. every YAML inventory file is parsed twice: the `auto` plugin (tried before `yaml`) parses the whole
   file only to look for a root `plugin:` key, then the `yaml` plugin parses it again;
2. `DataLoader.load_from_file(cache="none")` deep-copies each fresh parse before returning it (nobody
   else holds that object: the copy only costs time, as much as the parse with 2.19's tagged data);
3. `VariableManager.get_vars()` recomposes, for every host, the variables of all its groups (group
   vars from the inventory and from group_vars/ files through the vars plugins), plus magic variables.

`LeanLoader` drops the copy of fresh data and hands the `auto` probe the parse the `yaml` plugin uses
next (ansible-core's only untrusted `cache="none"` caller is that probe, which reads nothing but the root
`plugin` key). `GroupVarsComposer` reproduces `VariableManager.get_vars(host, stage="all")` without play,
task, facts or playbook dir (exactly the `ansible-inventory --list` case): it follows
`C.VARIABLE_PRECEDENCE` with the same functions, computing the group part once per distinct set of
groups instead of once per host. tests/unit/test_inventory_intake.py proves both equal to Ansible's
reading (`VariableManager.get_vars` and `ansible-inventory --list`) on every fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ansible import constants as C
from ansible.inventory.helpers import get_group_vars, sort_groups
from ansible.parsing.dataloader import DataLoader
from ansible.utils.vars import combine_vars
from ansible.vars.plugins import get_vars_from_inventory_sources


class LeanLoader(DataLoader):
    """A DataLoader that skips copies of data nobody else holds (same values, less time)."""

    def __init__(self) -> None:
        super().__init__()
        self._probed: dict[tuple[str, bool], Any] = {}

    def load_from_file(
        self,
        file_name: str,
        cache: str = "all",
        unsafe: bool = False,
        json_only: bool = False,
        trusted_as_template: bool = False,
    ) -> Any:
        if cache != "none":
            return super().load_from_file(
                file_name,
                cache=cache,
                unsafe=unsafe,
                json_only=json_only,
                trusted_as_template=trusted_as_template,
            )
        key = (self.path_dwim(file_name), json_only)
        if trusted_as_template and key in self._probed:
            return self._probed.pop(key)
        # a fresh parse: DataLoader's deepcopy of it (unsafe=False) would protect nothing
        data = super().load_from_file(
            file_name, cache="none", unsafe=True, json_only=json_only, trusted_as_template=True
        )
        if not trusted_as_template:  # the `auto` plugin's probe: the `yaml` plugin parses this file next
            self._probed[key] = data
        return data

    def forget_probes(self) -> None:
        self._probed.clear()


# VARIABLE_PRECEDENCE entries whose value depends only on the host's groups
_GROUP_ENTRIES = frozenset(
    {
        "all_inventory",
        "groups_inventory",
        "all_plugins_inventory",
        "all_plugins_play",
        "groups_plugins_inventory",
        "groups_plugins_play",
    }
)


def composable() -> bool:
    """Whether the configured precedence uses only entries this module reproduces."""
    return set(C.VARIABLE_PRECEDENCE) <= _GROUP_ENTRIES


class GroupVarsComposer:
    """`VariableManager.get_vars(host=h, include_hostvars=False, stage="all")` minus magic variables,
    for an inventory read without a playbook (no play, task, facts, extra vars or playbook dir)."""

    def __init__(self, loader: DataLoader, manager: Any, sources: Sequence[str]) -> None:
        self._loader = loader
        self._sources = list(sources)
        self._all = manager.groups.get("all")
        self._prefix: dict[tuple[str, ...], dict[str, Any]] = {}

    def host_vars(self, host: Any) -> dict[str, Any]:
        groups = sort_groups([g for g in host.get_groups() if g.name != "all"])
        key = tuple(g.name for g in groups)
        prefix = self._prefix.get(key)
        if prefix is None:
            prefix = self._prefix[key] = self._group_part(groups)
        data = combine_vars(prefix, host.get_vars())
        return combine_vars(data, self._plugins([host]))

    def _plugins(self, entities: list[Any]) -> dict[str, Any]:
        result: dict[str, Any] = get_vars_from_inventory_sources(self._loader, self._sources, entities, "all")
        return result

    def _group_part(self, groups: list[Any]) -> dict[str, Any]:
        parts: dict[str, Callable[[], dict[str, Any]]] = {
            "all_inventory": lambda: self._all.get_vars(),
            "groups_inventory": lambda: get_group_vars(groups),
            "all_plugins_inventory": lambda: self._plugins([self._all]),
            "all_plugins_play": dict,  # no playbook: VariableManager has no safe basedir
            "groups_plugins_inventory": lambda: self._plugins(groups),
            "groups_plugins_play": dict,
        }
        data: dict[str, Any] = {}
        for entry in C.VARIABLE_PRECEDENCE:
            new = parts[entry]()
            if new:
                data = combine_vars(data, new)
        return data
