"""Exemptions (YAML): asset or group, CVE or patch, reason, compensating controls, approver, expiry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from otorchestrator.intake.errors import ImportProblem, jpath, problems_from_validation
from otorchestrator.intake.yamlfile import list_under, read_data
from otorchestrator.models.exemption import Exemption

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
        try:
            out.append(Exemption.model_validate(_normalize(raw)))
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, file, here))
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
