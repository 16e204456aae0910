"""What intake uses of ansible-core beyond its public API, and the releases where that is proven.

Public APIs (InventoryManager, VariableManager, DataLoader, the configuration constants) read every
inventory on any ansible-core release. On a release in PROVEN_RELEASES, the ones the unit suite runs
against (2.19 on Python 3.11, 2.20 on Python 3.12: docs/inventory.md "Which ansible-core"), intake also uses:

- the lean path (`ansible_compose`): Ansible's own reading without its redundant work, proven equal to
  `VariableManager.get_vars` and to `ansible-inventory --list` by tests/unit/test_inventory_intake.py;
- `Origin` tags (`ansible._internal._datatag`): the file:line:col of a value, so a problem names its line;
- `DeferredWarningContext` (`ansible._internal._display_utils`): Ansible's warnings become notes, and an
  unparsable source's problem carries the plugins' reasons.

On any other release intake reads through public APIs only: a problem names the inventory file instead of
the line, Ansible prints its warnings itself, and an unparsable source is still a problem (Ansible's own
INVENTORY_ANY_UNPARSED_IS_FAILED). This is the only module that imports `ansible._internal`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

PROVEN_RELEASES = frozenset({(2, 19), (2, 20)})


def release() -> tuple[int, int]:
    """(major, minor) of the installed ansible-core."""
    from ansible.release import __version__

    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)


def proven(installed: tuple[int, int] | None = None) -> bool:
    """Whether the lean path and the private helpers may be used with this ansible-core release."""
    return (installed or release()) in PROVEN_RELEASES


def origin(value: object) -> str | None:
    """`file:line:col` where Ansible read `value` (relative to the working directory), if it knows."""
    try:
        from ansible._internal._datatag._tags import Origin
    except ImportError:  # pragma: no cover - present on every proven release
        return None
    tag = Origin.get_tag(value)
    if tag is None or not tag.path:
        return None
    where = relative(tag.path)
    if tag.line_num:
        where += f":{tag.line_num}"
        if tag.col_num:
            where += f":{tag.col_num}"
    return where


@contextlib.contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect Ansible's warnings (which would otherwise be printed to stderr) as text."""
    captured: list[str] = []
    from ansible._internal._display_utils import DeferredWarningContext, format_message

    with DeferredWarningContext(variables={}) as context:
        yield captured
    captured.extend(format_message(w, False) for w in context.get_warnings())


def relative(path: str) -> str:
    if not path:
        return ""
    try:
        return os.path.relpath(path)
    except ValueError:
        return path
