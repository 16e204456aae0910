"""The local patch catalog (YAML, docs/contracts.md section 4)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from otorchestrator.intake.errors import ImportProblem, IntakeError, jpath, problems_from_validation
from otorchestrator.intake.yamlfile import list_under, read_data
from otorchestrator.models.catalog import Catalog, Patch


def _normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept the spellings people write: `partially qualified`, `Not-Tested`, versions as numbers."""
    out = dict(raw)
    qualification = out.get("qualification")
    if isinstance(qualification, str):
        out["qualification"] = re.sub(r"[\s-]+", "_", qualification.strip().lower())
    for key in ("fixed_version", "target_version"):
        if isinstance(out.get(key), int | float) and not isinstance(out.get(key), bool):
            out[key] = str(out[key])
    if isinstance(out.get("sha256"), str):
        out["sha256"] = out["sha256"].strip().lower()
    return out


def parse_catalog(data: Any, file: str) -> tuple[Catalog, tuple[ImportProblem, ...]]:
    problems: list[ImportProblem] = []
    patches: list[Patch] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(list_under(data, "patches", file)):
        here = jpath("$.patches", index)
        if not isinstance(raw, dict):
            problems.append(
                ImportProblem(file=file, path=here, expected="a patch mapping", found=str(raw)[:60])
            )
            continue
        try:
            patch = Patch.model_validate(_normalize(raw))
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, file, here))
            continue
        if patch.id in seen:
            problems.append(
                ImportProblem(
                    file=file,
                    path=jpath(here, "id"),
                    expected=f"a unique patch id ({patch.id} is also $.patches[{seen[patch.id]}])",
                    found=patch.id,
                )
            )
            continue
        seen[patch.id] = index
        patches.append(patch)
    return Catalog(source=file, patches=tuple(patches)), tuple(problems)


def load_catalog(path: Path) -> tuple[Catalog, tuple[ImportProblem, ...]]:
    """A bad patch entry is reported (file + path) and left out; an unreadable file raises IntakeError."""
    return parse_catalog(read_data(path), str(path))


def load_catalog_strict(path: Path) -> Catalog:
    catalog, problems = load_catalog(path)
    if problems:
        raise IntakeError(problems)
    return catalog
