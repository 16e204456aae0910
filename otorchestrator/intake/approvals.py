"""Approvals (YAML): overrides for unqualified patches and approvals for safety / high-criticality assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from otorchestrator.intake.errors import ImportProblem, jpath, problems_from_validation
from otorchestrator.intake.yamlfile import list_under, read_data
from otorchestrator.models.plan import Approval

KINDS = ("asset", "unqualified_patch", "drill")


def parse_approvals(data: Any, file: str) -> tuple[tuple[Approval, ...], tuple[ImportProblem, ...]]:
    problems: list[ImportProblem] = []
    out: list[Approval] = []
    for index, raw in enumerate(list_under(data, "approvals", file)):
        here = jpath("$.approvals", index)
        try:
            approval = Approval.model_validate(raw)
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, file, here))
            continue
        if approval.kind not in KINDS:
            problems.append(
                ImportProblem(
                    file=file, path=jpath(here, "kind"), expected=" | ".join(KINDS), found=approval.kind
                )
            )
            continue
        if approval.at.tzinfo is None:
            problems.append(
                ImportProblem(
                    file=file,
                    path=jpath(here, "at"),
                    expected="a datetime with a UTC offset",
                    found=str(approval.at),
                )
            )
            continue
        out.append(approval)
    return tuple(out), tuple(problems)


def load_approvals(path: Path) -> tuple[tuple[Approval, ...], tuple[ImportProblem, ...]]:
    return parse_approvals(read_data(path), str(path))
