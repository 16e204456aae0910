"""Intake errors: every problem names the file, the JSON path inside it and what was expected.

IntakeError (ValueError)       a file could not be used at all; carries its ImportProblems
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from otorchestrator.models.problem import ImportProblem, Severity

__all__ = ["ImportProblem", "IntakeError", "Severity", "describe", "jpath", "problems_from_validation"]


class IntakeError(ValueError):
    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "unreadable input")


def jpath(base: str, *parts: str | int) -> str:
    """`jpath("$.a", 3, "b")` -> `$.a[3].b`."""
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def describe(value: Any) -> str:
    """A short, human description of a value found where something else was expected."""
    if value is None:
        return "null"
    text = repr(value)
    kind = type(value).__name__
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def problems_from_validation(
    exc: ValidationError, file: str, base: str, severity: Severity = Severity.ERROR
) -> list[ImportProblem]:
    out = []
    for err in exc.errors():
        loc: Iterable[str | int] = err.get("loc", ())
        found = "" if err.get("type") == "missing" else describe(err.get("input"))
        out.append(
            ImportProblem(
                file=file,
                path=jpath(base, *loc),
                expected=str(err.get("msg", "a valid value")),
                found=found,
                severity=severity,
            )
        )
    return out
