"""Read a YAML (or JSON) file into plain data, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from otorchestrator.intake.errors import ImportProblem, IntakeError


def read_data(path: Path) -> Any:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(
            [ImportProblem(file=file, path="$", expected="a readable file", found=str(exc))]
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise IntakeError(
            [ImportProblem(file=file, path="$", expected="valid YAML", found=f"{problem}{where}")]
        ) from exc


def list_under(data: Any, key: str, file: str) -> list[Any]:
    """`data[key]` as a list (a bare top-level list is accepted too)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get(key, []), list):
        return list(data.get(key) or [])
    found = type(data).__name__ if not isinstance(data, dict) else type(data.get(key)).__name__
    raise IntakeError([ImportProblem(file=file, path=f"$.{key}", expected="a list", found=found)])
