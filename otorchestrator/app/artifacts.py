"""Where a run finds the catalog and the patch artifacts it re-checks when the operator names none, and
what the re-check of their sha256 becomes (on, turned off by the operator, or refused: nothing known)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.app.errors import AppError
from otorchestrator.execution.artifacts import artifact_digests, checked_patches
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.catalog import Catalog, Patch


def default_catalog(inventory: Path) -> Path | None:
    """`catalog.yml` beside (or in) the inventory."""
    base = inventory if inventory.is_dir() else inventory.parent
    candidate = base / "catalog.yml"
    return candidate if candidate.is_file() else None


def default_artifact_dirs(catalog: Path | None, inventory: Path) -> list[Path]:
    """Where the patch artifacts are when `--artifacts` is not given: `artifacts/` (or `repo/`) beside
    the catalog, and for the lab's inventory the lab's signed repository (what its hosts install from)."""
    found: list[Path] = []
    if catalog is not None:
        found += [d for d in (catalog.parent / "artifacts", catalog.parent / "repo") if d.is_dir()]
    try:
        from otorchestrator.lab.config import LabConfig

        cfg = LabConfig.from_env(os.environ)
        base = (inventory if inventory.is_dir() else inventory.parent).resolve()
        repo = cfg.repo_dir / "main"
        if base == cfg.inventory_dir.resolve() and repo.is_dir():
            found.append(repo)
    except (ValueError, OSError):
        pass
    return found


def catalog_reader(catalog: Path | None) -> Callable[[], Catalog] | None:
    """The catalog re-read at the start and before every wave (None: no catalog known)."""
    if catalog is None:
        return None
    found = catalog

    def read() -> Catalog:
        return load_catalog_strict(found)

    return read


@dataclass(frozen=True)
class ArtifactCheck:
    """The run's re-check of artifact hashes: `run_digests` before every wave, `host_digests` before each
    host's install (both None when nothing is checked), `override` the operator's recorded reason."""

    run_digests: Callable[[], Mapping[str, str | None]] | None
    host_digests: Callable[[Sequence[Patch]], Mapping[str, str | None]] | None
    override: str | None


def artifact_check(
    patches: Sequence[Patch], where: Sequence[Path], operator: str, turned_off: bool
) -> ArtifactCheck:
    """Re-check every patch with a sha256 against the artifacts in `where`. Refused (REFUSED) when such a
    patch exists and no location is known, unless the operator turned the check off (audited)."""
    needs = [p.id for p in checked_patches(patches)]
    if turned_off:
        reason = f"--no-artifact-check by {operator}: artifact hashes not re-checked ({', '.join(needs)})"
        return ArtifactCheck(None, None, reason)
    if not needs:
        return ArtifactCheck(None, None, None)
    if not where:
        raise AppError(
            f"patches {', '.join(needs)} carry a sha256 but no artifact location is known to re-check it: "
            "pass --artifacts DIR (the repository the hosts install from), or --no-artifact-check "
            "(recorded in the audit log)",
            ExitCode.REFUSED,
        )
    dirs = list(where)

    def run_digests() -> Mapping[str, str | None]:
        return artifact_digests(patches, dirs)

    def host_digests(chosen: Sequence[Patch]) -> Mapping[str, str | None]:
        return artifact_digests(chosen, dirs)

    return ArtifactCheck(run_digests, host_digests, None)
