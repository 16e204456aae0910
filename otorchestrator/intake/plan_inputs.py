"""Gather everything `build_plan` needs from files, with a fingerprint of each input."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.intake.approvals import parse_approvals
from otorchestrator.intake.catalog import load_catalog
from otorchestrator.intake.csaf import advisory_sources, load_advisories
from otorchestrator.intake.errors import ImportProblem, IntakeError, Severity
from otorchestrator.intake.exemptions import parse_exemptions
from otorchestrator.intake.kev import load_kev
from otorchestrator.intake.references import approval_references, exemption_references
from otorchestrator.intake.yamlfile import read_located
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


def _no_advisories(paths: Sequence[Path], imported: AdvisoryImport) -> list[ImportProblem]:
    """An advisories input without one usable advisory: the plan would be empty and look clean."""
    where = ", ".join(str(p) for p in paths)
    found = "no advisory files" if not imported.files else f"{imported.files} file(s), every one rejected"
    head = ImportProblem(
        file=where,
        path="$",
        expected="at least one usable CSAF advisory (pass --allow-empty to write an empty plan on purpose)",
        found=found,
    )
    return [head, *(p for p in imported.problems if p.severity is Severity.ERROR)][:11]


def gather(
    inventory: Inventory,
    inventory_path: Path,
    advisories: Sequence[Path],
    catalog: Path,
    kev: Path | None = None,
    exemptions: Path | None = None,
    approvals: Path | None = None,
    allow_empty: bool = False,
) -> tuple[PlanInputs, AdvisoryImport]:
    """Raises IntakeError (every problem) when the catalog, exemptions or approvals cannot be used as is:
    those are the site's own decisions, so nothing in them is skipped silently, and when the KEV file is
    unreadable. Advisory problems and skipped KEV entries (CISA's data, as for advisories: one bad entry
    does not stop the plan) are returned and recorded in the plan's import_problems. A host, group or patch
    that an exemption or approval names must exist in the inventory or catalog (file:line, did-you-mean)."""
    fatal: list[ImportProblem] = []
    imported = import_advisories(advisories)
    if not imported.advisories and not allow_empty:
        fatal.extend(_no_advisories(advisories, imported))
    hashes = {
        "advisories": file_digest([(name, path) for path, name in advisory_sources(advisories)]),
        "catalog": file_digest([catalog]),
        "inventory": inventory_digest(inventory_path),
    }
    loaded_catalog, problems = load_catalog(catalog)
    fatal.extend(problems)
    hosts = {a.name for a in inventory.assets}
    groups = {g for a in inventory.assets for g in a.groups}
    patch_ids = {p.id for p in loaded_catalog.patches}
    kev_catalog = KevCatalog()
    kev_skipped: tuple[ImportProblem, ...] = ()
    if kev is not None:
        kev_catalog, kev_problems = load_kev(kev, name=kev.name)
        fatal.extend(p for p in kev_problems if p.severity is not Severity.WARNING)
        kev_skipped = tuple(p for p in kev_problems if p.severity is Severity.WARNING)
        hashes["kev"] = file_digest([kev])
    loaded_exemptions: tuple[Exemption, ...] = ()
    if exemptions is not None:
        data, lines = read_located(exemptions)
        loaded_exemptions, ex_problems = parse_exemptions(data, str(exemptions))
        fatal.extend(ex_problems)
        fatal.extend(exemption_references(data, str(exemptions), lines, hosts, groups, patch_ids))
        hashes["exemptions"] = file_digest([exemptions])
    loaded_approvals: tuple[Approval, ...] = ()
    if approvals is not None:
        data, lines = read_located(approvals)
        loaded_approvals, ap_problems = parse_approvals(data, str(approvals))
        fatal.extend(ap_problems)
        fatal.extend(approval_references(data, str(approvals), lines, hosts, patch_ids))
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
