"""Read a wave policy (YAML) into a WavePolicy, with errors that name the file, the field and what was
expected. `parse_policy` is pure; `load_policy` only adds reading the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from otorchestrator.models.policy import WavePolicy


class PolicyError(ValueError):
    """A policy file that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_policy(text: str, source: str = "policy") -> WavePolicy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(top level)"
        what = getattr(exc, "problem", None) or "a YAML syntax error"
        raise PolicyError([f"{source}: {where}: expected valid YAML ({what})"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(
            [f"{source}: (top level): expected a mapping of policy fields, found {_found(data)}"]
        )
    try:
        return WavePolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = f"{source}: {_field(tuple(err['loc']))}"
            if err["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown field (the policy fields are listed in docs/waves.md)")
            elif err["type"] == "missing":
                problems.append(f"{where}: missing, a value is required")
            else:
                expected = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
                problems.append(f"{where}: expected {expected} (found {_found(err.get('input'))})")
        raise PolicyError(problems) from exc


def load_policy(path: Path | None) -> WavePolicy:
    """The policy in `path`, or the default policy when no path is given."""
    if path is None:
        return WavePolicy()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{path}: expected a readable policy file ({exc})"]) from exc
    return parse_policy(text, str(path))
