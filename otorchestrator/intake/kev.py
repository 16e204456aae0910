"""The CISA Known Exploited Vulnerabilities catalog (JSON): which CVEs are exploited in the wild."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from otorchestrator.intake.errors import ImportProblem, Severity, describe, jpath
from otorchestrator.intake.yamlfile import list_under, read_data
from otorchestrator.models.advisory import KevCatalog, KevEntry


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def parse_kev(data: Any, file: str) -> tuple[KevCatalog, tuple[ImportProblem, ...]]:
    problems: list[ImportProblem] = []
    entries: dict[str, KevEntry] = {}
    for index, raw in enumerate(list_under(data, "vulnerabilities", file)):
        here = jpath("$.vulnerabilities", index)
        if not isinstance(raw, dict):
            problems.append(
                ImportProblem(
                    file=file,
                    path=here,
                    expected="an object (a KEV entry with cveID, vendorProject, product, ...)",
                    found=describe(raw),
                    severity=Severity.WARNING,
                )
            )
            continue
        cve = raw.get("cveID")
        if not isinstance(cve, str) or not cve.upper().startswith("CVE-"):
            problems.append(
                ImportProblem(
                    file=file,
                    path=jpath(here, "cveID"),
                    expected="a CVE id like CVE-2021-1234",
                    found=describe(cve),
                    severity=Severity.WARNING,
                )
            )
            continue
        entries[cve.strip().upper()] = KevEntry(
            cve=cve.strip().upper(),
            vendor=str(raw.get("vendorProject", "")),
            product=str(raw.get("product", "")),
            name=str(raw.get("vulnerabilityName", "")),
            date_added=_date(raw.get("dateAdded")),
            due_date=_date(raw.get("dueDate")),
            ransomware=str(raw.get("knownRansomwareCampaignUse", "Unknown")),
        )
    version = str(data.get("catalogVersion", "")) if isinstance(data, dict) else ""
    catalog = KevCatalog(source=file, version=version, entries=tuple(entries[c] for c in sorted(entries)))
    return catalog, tuple(problems)


def load_kev(path: Path, name: str | None = None) -> tuple[KevCatalog, tuple[ImportProblem, ...]]:
    """Raises IntakeError when the file is unreadable; a bad entry is reported (a warning) and skipped.
    `name` is how the catalog and its problems name the file (default: the path as given)."""
    return parse_kev(read_data(path), str(path) if name is None else name)
