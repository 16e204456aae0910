"""Gather everything `build_plan` needs from files, with a fingerprint of each input."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.intake.approvals import load_approvals
from otorchestrator.intake.catalog import load_catalog
from otorchestrator.intake.csaf import advisory_files, load_advisories
from otorchestrator.intake.errors import ImportProblem, IntakeError
from otorchestrator.intake.exemptions import load_exemptions
from otorchestrator.intake.kev import load_kev
from otorchestrator.models.advisory import Advisory, KevCatalog
from otorchestrator.models.asset import Inventory
from otorchestrator.models.exemption import Exemption
from otorchestrator.models.plan import Approval
from otorchestrator.planning.plan import PlanInputs


@dataclass(frozen=True)
class AdvisoryImport:
    advisories: tuple[Advisory, ...]
    problems: tuple[ImportProblem, ...]
    files: int

    @property
    def skipped(self) -> int:
        """Advisory files that could not be used at all."""
        return self.files - len(self.advisories)


def file_digest(paths: Sequence[Path]) -> str:
    """sha256 of one file, or of a set of files (names relative to their root, then contents), in order."""
    if len(paths) == 1 and paths[0].is_file():
        return "sha256:" + hashlib.sha256(paths[0].read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def import_advisories(paths: Sequence[Path]) -> AdvisoryImport:
    files = advisory_files(paths)
    advisories, problems = load_advisories(files)
    return AdvisoryImport(advisories, problems, len(files))


def gather(
    inventory: Inventory,
    inventory_path: Path,
    advisories: Sequence[Path],
    catalog: Path,
    kev: Path | None = None,
    exemptions: Path | None = None,
    approvals: Path | None = None,
) -> tuple[PlanInputs, AdvisoryImport]:
    """Raises IntakeError (every problem) when the catalog, KEV, exemptions or approvals cannot be used as
    is: those are the site's own decisions, so nothing in them is skipped silently. Advisory problems are
    returned."""
    fatal: list[ImportProblem] = []
    imported = import_advisories(advisories)
    hashes = {"advisories": file_digest(advisory_files(advisories)), "catalog": file_digest([catalog])}
    inv_files = sorted(inventory_path.rglob("*.yml")) if inventory_path.is_dir() else [inventory_path]
    hashes["inventory"] = file_digest(inv_files)
    loaded_catalog, problems = load_catalog(catalog)
    fatal.extend(problems)
    kev_catalog = KevCatalog()
    if kev is not None:
        kev_catalog, kev_problems = load_kev(kev)
        fatal.extend(kev_problems)
        hashes["kev"] = file_digest([kev])
    loaded_exemptions: tuple[Exemption, ...] = ()
    if exemptions is not None:
        loaded_exemptions, ex_problems = load_exemptions(exemptions)
        fatal.extend(ex_problems)
        hashes["exemptions"] = file_digest([exemptions])
    loaded_approvals: tuple[Approval, ...] = ()
    if approvals is not None:
        loaded_approvals, ap_problems = load_approvals(approvals)
        fatal.extend(ap_problems)
        hashes["approvals"] = file_digest([approvals])
    if fatal:
        raise IntakeError(fatal)
    inputs = PlanInputs(
        inventory=inventory,
        advisories=imported.advisories,
        catalog=loaded_catalog,
        kev=kev_catalog,
        exemptions=loaded_exemptions,
        approvals=loaded_approvals,
        import_problems=imported.problems,
        input_hashes=tuple(sorted(hashes.items())),
    )
    return inputs, imported
