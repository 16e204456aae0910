"""Gather everything `build_plan` needs from files, with a fingerprint of each input."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.intake.approvals import load_approvals
from otorchestrator.intake.catalog import load_catalog
from otorchestrator.intake.csaf import advisory_sources, load_advisories
from otorchestrator.intake.errors import ImportProblem, IntakeError, Severity
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
    kev_problems: tuple[ImportProblem, ...] = ()  # KEV entries skipped (the plan's import_problems too)

    @property
    def skipped(self) -> int:
        """Advisory files that could not be used at all."""
        return self.files - len(self.advisories)


def file_digest(files: Sequence[Path | tuple[str, Path]]) -> str:
    """sha256 of one file (its content), or of a set of files: each (name, file) in order, the name being
    the file's path relative to the input's root (a bare Path counts by its file name). Neither depends on
    the working directory."""
    if len(files) == 1 and isinstance(files[0], Path) and files[0].is_file():
        return "sha256:" + hashlib.sha256(files[0].read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for entry in files:
        name, path = entry if isinstance(entry, tuple) else (entry.name, entry)
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def inventory_digest(inventory_path: Path) -> str:
    """sha256 over exactly the files Ansible reads for the inventory (see `inventory_files`)."""
    from otorchestrator.intake.ansible_source import inventory_files

    return file_digest(inventory_files(inventory_path))


def import_advisories(paths: Sequence[Path]) -> AdvisoryImport:
    advisories, problems = load_advisories(paths)
    return AdvisoryImport(advisories, problems, len(advisory_sources(paths)))


def gather(
    inventory: Inventory,
    inventory_path: Path,
    advisories: Sequence[Path],
    catalog: Path,
    kev: Path | None = None,
    exemptions: Path | None = None,
    approvals: Path | None = None,
) -> tuple[PlanInputs, AdvisoryImport]:
    """Raises IntakeError (every problem) when the catalog, exemptions or approvals cannot be used as is:
    those are the site's own decisions, so nothing in them is skipped silently, and when the KEV file is
    unreadable. Advisory problems and skipped KEV entries (CISA's data, as for advisories: one bad entry
    does not stop the plan) are returned and recorded in the plan's import_problems."""
    fatal: list[ImportProblem] = []
    imported = import_advisories(advisories)
    hashes = {
        "advisories": file_digest([(name, path) for path, name in advisory_sources(advisories)]),
        "catalog": file_digest([catalog]),
        "inventory": inventory_digest(inventory_path),
    }
    loaded_catalog, problems = load_catalog(catalog)
    fatal.extend(problems)
    kev_catalog = KevCatalog()
    kev_skipped: tuple[ImportProblem, ...] = ()
    if kev is not None:
        kev_catalog, kev_problems = load_kev(kev, name=kev.name)
        fatal.extend(p for p in kev_problems if p.severity is not Severity.WARNING)
        kev_skipped = tuple(p for p in kev_problems if p.severity is Severity.WARNING)
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
        import_problems=(*imported.problems, *kev_skipped),
        input_hashes=tuple(sorted(hashes.items())),
    )
    return inputs, AdvisoryImport(imported.advisories, imported.problems, imported.files, kev_skipped)
