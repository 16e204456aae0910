"""The CSAF reader's context: the file being read and the problems found in it (a warning keeps the rest of
the advisory; a failure is an IntakeError), and the readers of one string or list value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otorchestrator.intake.errors import ImportProblem, IntakeError, Severity, describe, jpath


@dataclass
class _Ctx:
    file: str
    problems: list[ImportProblem] = field(default_factory=list)

    def warn(self, path: str, expected: str, found: Any = None) -> None:
        self.problems.append(
            ImportProblem(
                file=self.file,
                path=path,
                expected=expected,
                found="" if found is None else describe(found),
                severity=Severity.WARNING,
            )
        )

    def fail(self, path: str, expected: str, found: Any = None) -> IntakeError:
        problem = ImportProblem(
            file=self.file, path=path, expected=expected, found="" if found is None else describe(found)
        )
        return IntakeError([problem])


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(ctx: _Ctx, node: dict[str, Any], key: str, path: str) -> list[Any]:
    value = node.get(key, [])
    if isinstance(value, list):
        return value
    ctx.warn(jpath(path, key), "a list", value)
    return []
