"""Advisories as read from CSAF 2.0 and the KEV catalog. Raw text is kept next to anything interpreted."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class RuleSource(StrEnum):
    """Where in the CSAF product tree a product rule came from."""

    BRANCH = "branch"  # vendor / product_name / product_version(_range) branches
    FULL_PRODUCT_NAME = "full_product_name"
    RELATIONSHIP = "relationship"


class ProductRule(BaseModel):
    """One CSAF product id: which vendor, which product, which versions. `version` is the raw text.

    `version_category` is `product_version`, `product_version_range`, or `none` when the tree gives no version
    (the product name alone). Interpreting `version` is the matcher's job, so nothing is lost here.
    """

    model_config = ConfigDict(frozen=True)

    product_id: str
    vendor: str | None
    product: str
    version: str | None
    version_category: str = "none"
    source: RuleSource = RuleSource.BRANCH
    path: str = ""  # JSON path of the node that defined it
    full_name: str = ""  # CSAF full product name
    note: str = ""  # e.g. "default_component_of CSAFPID-2"


AffectedRule = ProductRule


class Score(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str  # "3.0" | "3.1"
    base_score: float | None = Field(allow_inf_nan=False)  # finite: the plan's hash relies on it
    vector: str | None
    severity: str | None = None
    products: tuple[str, ...] = ()


class Remediation(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str  # vendor_fix | mitigation | workaround | no_fix_planned | none_available
    details: str = ""
    product_ids: tuple[str, ...] = ()
    url: str | None = None


class Vulnerability(BaseModel):
    model_config = ConfigDict(frozen=True)

    cve: str | None
    title: str = ""
    cwe_id: str | None = None
    cwe_name: str | None = None
    affected: tuple[str, ...] = ()  # known_affected + first_affected + last_affected
    fixed: tuple[str, ...] = ()  # fixed + first_fixed
    not_affected: tuple[str, ...] = ()
    under_investigation: tuple[str, ...] = ()
    remediations: tuple[Remediation, ...] = ()
    scores: tuple[Score, ...] = ()
    exploitation_note: str | None = None  # what the advisory says about exploits, verbatim

    def max_score(self) -> Score | None:
        scored = [s for s in self.scores if s.base_score is not None]
        return max(scored, key=lambda s: (s.base_score or 0.0, s.vector or "")) if scored else None


class Provenance(BaseModel):
    """Where a stored advisory revision came from: the feed, the address it was fetched from, the sha512 of
    the exact bytes, the fingerprint of the OpenPGP key that signed them, when, and which revision."""

    model_config = ConfigDict(frozen=True)

    advisory: str  # tracking.id
    revision: str  # tracking.version
    current_release_date: str  # tracking.current_release_date
    feed: str
    url: str  # the publisher's address (before any site mirror mapping)
    fetched_from: str  # where the bytes were actually read (mirror URL or directory)
    sha512: str
    signer: str  # fingerprint of the signing key, one of the feed's pinned fingerprints
    fetched_at: str  # ISO 8601 UTC


class Advisory(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str = ""
    publisher: str = ""
    release_date: str | None = None
    source: str = ""  # file it came from
    exploitation_note: str | None = None  # document-level "Exploitability" note, verbatim
    products: tuple[ProductRule, ...] = ()
    vulnerabilities: tuple[Vulnerability, ...] = ()
    provenance: Provenance | None = None  # filled when the advisory was read from a verified feed store

    def product_map(self) -> dict[str, ProductRule]:
        return {p.product_id: p for p in self.products}


class KevEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    cve: str
    vendor: str = ""
    product: str = ""
    name: str = ""
    date_added: date | None = None
    due_date: date | None = None
    ransomware: str = "Unknown"


class KevCatalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str = ""
    version: str = ""
    entries: tuple[KevEntry, ...] = ()

    def by_cve(self) -> dict[str, KevEntry]:
        return {e.cve: e for e in self.entries}
