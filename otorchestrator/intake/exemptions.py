"""Exemptions (YAML): asset or group, CVE or patch, reason, compensating controls, approver, expiry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from otorchestrator.intake.errors import ImportProblem, jpath, problems_from_validation
from otorchestrator.intake.yamlfile import list_under, read_data
from otorchestrator.models.exemption import Exemption

# text fields that must say something: blank text would record no approver or no reason
_NAMED = {"approver": "non-blank text: who approved the exemption", "reason": "non-blank text: why"}
_SINGULAR = {"asset": "assets", "group": "groups", "cve": "cves", "patch": "patches"}


def _normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """`asset: x` is accepted for `assets: [x]` (likewise group, cve, patch)."""
    out = dict(raw)
    for single, plural in _SINGULAR.items():
        if single in out:
            value = out.pop(single)
            out[plural] = [*out.get(plural, []), *(value if isinstance(value, list) else [value])]
    return out


def parse_exemptions(data: Any, file: str) -> tuple[tuple[Exemption, ...], tuple[ImportProblem, ...]]:
    problems: list[ImportProblem] = []
    out: list[Exemption] = []
    for index, raw in enumerate(list_under(data, "exemptions", file)):
        here = jpath("$.exemptions", index)
        if not isinstance(raw, dict):
            problems.append(
                ImportProblem(file=file, path=here, expected="an exemption mapping", found=str(raw)[:60])
            )
            continue
        found: dict[str, ImportProblem] = {}
        exemption: Exemption | None = None
        try:
            exemption = Exemption.model_validate(_normalize(raw))
        except ValidationError as exc:
            for problem in problems_from_validation(exc, file, here):
                found.setdefault(problem.path, problem)
        for key in _NAMED:  # "  " passes the model's min_length but records nobody / no reason
            value = raw.get(key)
            if isinstance(value, str) and not value.strip():
                path = jpath(here, key)
                problem = ImportProblem(file=file, path=path, expected=_NAMED[key], found=repr(value))
                found.setdefault(path, problem)
        if found:
            problems.extend(found.values())
        elif exemption is not None:
            out.append(exemption)
    ids = [e.id for e in out]
    for index, exemption in enumerate(out):
        if ids.index(exemption.id) != index:
            problems.append(
                ImportProblem(
                    file=file, path="$.exemptions", expected="unique exemption ids", found=exemption.id
                )
            )
    return tuple(out), tuple(problems)


def load_exemptions(path: Path) -> tuple[tuple[Exemption, ...], tuple[ImportProblem, ...]]:
    return parse_exemptions(read_data(path), str(path))
