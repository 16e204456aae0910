"""What inventory intake reports: problems (the inventory is unusable) and notes (warnings, skipped hosts).

Errors are data: they are collected, never printed here, and rendered once by the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

MISSING = "<missing>"


def show_value(value: object, limit: int = 60) -> str:
    """A short, readable rendering of an inventory value for messages."""
    if value is MISSING:
        return MISSING
    text = repr(value) if isinstance(value, str) else _plain_repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain_repr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one host's variable: which host, which variable, what it holds, what was expected.

    `source` is where the value comes from (file:line when Ansible knows it, else the inventory file).
    `variable` may be a path into the value, e.g. `ot_maintenance_windows[1].start`.
    """

    host: str
    variable: str
    value: object
    expected: str
    source: str

    def __str__(self) -> str:
        return (
            f"{self.source}: host {self.host}: {self.variable} = {show_value(self.value)}: "
            f"expected {self.expected}"
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "host": self.host,
            "variable": self.variable,
            "value": show_value(self.value, limit=200),
            "expected": self.expected,
            "source": self.source,
        }


@dataclass(frozen=True)
class Note:
    """Something the user should know that does not make the inventory unusable."""

    kind: Literal["warning", "skipped"]
    host: str
    message: str
    source: str
    variable: str = ""

    def __str__(self) -> str:
        where = f"host {self.host}" if self.host else "inventory"
        what = f" {self.variable}:" if self.variable else ""
        return f"{self.source}: {where}:{what} {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "host": self.host,
            "variable": self.variable,
            "message": self.message,
            "source": self.source,
        }


class InventoryError(ValueError):
    """The inventory cannot be used. Carries every problem found, not only the first one."""

    def __init__(self, source: str, problems: Sequence[FieldProblem], notes: Iterable[Note] = ()) -> None:
        self.source = source
        self.problems: list[FieldProblem] = list(problems)
        self.notes: list[Note] = list(notes)
        count = len(self.problems)
        lines = [f"inventory {source}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))
