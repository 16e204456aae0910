"""Approvals (YAML): overrides for unqualified patches and approvals for safety / high-criticality assets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from otorchestrator.intake.errors import ImportProblem, jpath, problems_from_validation
from otorchestrator.intake.yamlfile import list_under, read_data
from otorchestrator.models.plan import Approval

KINDS = ("asset", "unqualified_patch", "drill")


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _item_problems(raw: Any, file: str, here: str) -> tuple[Approval | None, list[ImportProblem]]:
    """One approval, or every problem of it (one per path: the model's, then kind and time zone)."""
    found: dict[str, ImportProblem] = {}
    approval: Approval | None = None
    try:
        approval = Approval.model_validate(raw)
    except ValidationError as exc:
        for problem in problems_from_validation(exc, file, here):
            found.setdefault(problem.path, problem)
    fields = raw if isinstance(raw, dict) else {}
    kind = approval.kind if approval is not None else fields.get("kind")
    if isinstance(kind, str) and kind not in KINDS:
        path = jpath(here, "kind")
        found.setdefault(path, ImportProblem(file=file, path=path, expected=" | ".join(KINDS), found=kind))
    at = approval.at if approval is not None else _moment(fields.get("at"))
    if at is not None and at.tzinfo is None:
        path = jpath(here, "at")
        found.setdefault(
            path,
            ImportProblem(file=file, path=path, expected="a datetime with a UTC offset", found=str(at)),
        )
    return (None if found else approval), list(found.values())


def parse_approvals(data: Any, file: str) -> tuple[tuple[Approval, ...], tuple[ImportProblem, ...]]:
    """Every approval of `data`; an item with problems is left out and all of its problems are reported."""
    problems: list[ImportProblem] = []
    out: list[Approval] = []
    for index, raw in enumerate(list_under(data, "approvals", file)):
        approval, found = _item_problems(raw, file, jpath("$.approvals", index))
        problems.extend(found)
        if approval is not None:
            out.append(approval)
    return tuple(out), tuple(problems)


def load_approvals(path: Path) -> tuple[tuple[Approval, ...], tuple[ImportProblem, ...]]:
    return parse_approvals(read_data(path), str(path))
