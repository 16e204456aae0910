"""The parts of a CISA KEV catalog and of a CSAF 2.0 advisory that otorch reads, as models.

These are the JSON Schemas of `otorch schema kev` and `otorch schema csaf` (docs/formats.md). The readers
(intake/kev.py, intake/csaf.py) stay tolerant hand-written readers: one bad entry is a warning with its JSON
path, not a refused file, so they do not validate through these models. Every field listed here is one the
reader reads; tests/unit/test_schema.py reads the documented examples with the readers and checks each
field arrives. Anything else in the files (KEV `notes`, `cwes`, CSAF `aggregate_severity`, `references`,
...) is allowed and ignored.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # the files carry more than otorch reads


# --- CISA Known Exploited Vulnerabilities (known_exploited_vulnerabilities.json) ------------------------


class KevFileEntry(_Open):
    cveID: str = Field(pattern=r"^[Cc][Vv][Ee]-", description="the CVE; an entry without one is skipped")
    vendorProject: str = ""
    product: str = ""
    vulnerabilityName: str = ""
    dateAdded: date | None = Field(default=None, description="the exploitation decision point cites it")
    dueDate: date | None = None
    knownRansomwareCampaignUse: str = "Unknown"


class KevFile(_Open):
    catalogVersion: str = ""
    vulnerabilities: list[KevFileEntry]


# --- CSAF 2.0 --------------------------------------------------------------------------------------------


class CsafNote(_Open):
    title: str = Field(default="", description="a note titled Exploitab... is the exploitation note")
    text: str = ""


class CsafTracking(_Open):
    id: str
    current_release_date: str | None = None


class CsafPublisher(_Open):
    name: str = ""


class CsafDocument(_Open):
    csaf_version: str = Field(default="2.0", description="2.x; another version is read with a warning")
    title: str = ""
    publisher: CsafPublisher | None = None
    tracking: CsafTracking
    notes: list[CsafNote] = Field(default_factory=list)


class CsafHelper(_Open):
    cpe: str | None = Field(default=None, description="CPE 2.3: vendor, product and version read from it")


class CsafProduct(_Open):
    product_id: str
    name: str = ""
    product_identification_helper: CsafHelper | None = None


class CsafBranch(_Open):
    category: str = Field(description="vendor, product_family, product_name, product_version(_range), ...")
    name: str
    product: CsafProduct | None = None
    branches: list[CsafBranch] = Field(default_factory=list)


class CsafRelationship(_Open):
    category: str = ""
    product_reference: str = Field(description="the component: matched as that product")
    relates_to_product_reference: str | None = None
    full_product_name: CsafProduct


class CsafProductTree(_Open):
    branches: list[CsafBranch] = Field(default_factory=list)
    full_product_names: list[CsafProduct] = Field(default_factory=list)
    relationships: list[CsafRelationship] = Field(default_factory=list)


class CsafStatus(_Open):
    known_affected: list[str] = Field(default_factory=list)
    first_affected: list[str] = Field(default_factory=list)
    last_affected: list[str] = Field(default_factory=list)
    fixed: list[str] = Field(default_factory=list)
    first_fixed: list[str] = Field(default_factory=list)
    known_not_affected: list[str] = Field(default_factory=list)
    under_investigation: list[str] = Field(default_factory=list)


class CsafRemediation(_Open):
    category: str = Field(description="vendor_fix, mitigation, workaround, no_fix_planned, none_available")
    details: str = ""
    product_ids: list[str] = Field(default_factory=list)
    url: str | None = None


class CsafCvssV3(_Open):
    version: str = "3.1"
    baseScore: float | None = Field(default=None, ge=0, le=10)
    vectorString: str | None = Field(default=None, pattern=r"^CVSS:3")
    baseSeverity: str | None = None


class CsafScore(_Open):
    cvss_v3: CsafCvssV3 | None = Field(default=None, description="cvss_v2 / cvss_v4 only: skipped")
    products: list[str] = Field(default_factory=list)


class CsafCwe(_Open):
    id: str | None = None
    name: str | None = None


class CsafVulnerability(_Open):
    cve: str | None = Field(default=None, pattern=r"^[Cc][Vv][Ee]-")
    title: str = ""
    cwe: CsafCwe | None = None
    product_status: CsafStatus = Field(default_factory=CsafStatus)
    remediations: list[CsafRemediation] = Field(default_factory=list)
    scores: list[CsafScore] = Field(default_factory=list)
    notes: list[CsafNote] = Field(default_factory=list)


class CsafAdvisory(_Open):
    document: CsafDocument
    product_tree: CsafProductTree
    vulnerabilities: list[CsafVulnerability] = Field(default_factory=list)
