"""`otorch watch`, the pure part: the findings of an evaluation (a plan built by the planner) and what
changed since an earlier one. One finding per (asset, CVE, product): its decision, whether the CVE is in
KEV, and the stored advisory revisions behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from otorchestrator.models.advisory import Provenance
from otorchestrator.models.plan import Plan

EVALUATION_INTERVAL = timedelta(
    days=35
)  # NERC CIP-007-6 R2.2: evaluate security patches at least every 35 days
NO_PATCH = "no_patch_available"


@dataclass(frozen=True)
class Finding:
    asset: str
    cve: str
    product: str  # "vendor / product version"
    decision: str  # the plan's decision, or no_patch_available
    patch: str  # the catalog patch, "" when none
    in_kev: bool
    revisions: tuple[
        str, ...
    ]  # "<advisory> <current_release_date> sha512:<first 16>" of each stored revision

    @property
    def key(self) -> str:
        return f"{self.asset}|{self.cve}|{self.product}"


def _revisions(provenance: tuple[Provenance, ...], fallback: tuple[str, ...] = ()) -> tuple[str, ...]:
    if not provenance:
        return tuple(sorted(fallback))
    return tuple(sorted(f"{p.advisory} {p.current_release_date} sha512:{p.sha512[:16]}" for p in provenance))


def findings(plan: Plan, kev: set[str]) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for item in plan.items:
        for cve in item.cves:
            f = Finding(
                item.asset,
                cve,
                f"{item.product} {item.installed_version}",
                item.decision.value,
                item.patch_id,
                cve in kev,
                _revisions(item.provenance),
            )
            out[f.key] = f
    for gap in plan.unpatched:
        for cve in gap.cves:
            f = Finding(
                gap.asset,
                cve,
                f"{gap.vendor} / {gap.product} {gap.version}",
                NO_PATCH,
                "",
                cve in kev,
                _revisions(gap.provenance, gap.advisories),
            )
            out[f.key] = f
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Change:
    kind: str  # new | revised | kev | decision | gone
    finding: Finding
    before: Finding | None = None
    why: str = ""


@dataclass
class Changes:
    since: str | None  # when the evaluation compared against was made (None: the first evaluation)
    changes: list[Change] = field(default_factory=list)
    overdue: str = ""  # the 35-day rule, when the previous evaluation is older than that

    @property
    def new_applicable(self) -> bool:
        return any(c.kind in ("new", "revised", "kev") for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "overdue": self.overdue,
            "new_applicable": self.new_applicable,
            "changes": [asdict(c) for c in self.changes],
        }


def compare(
    before: dict[str, Finding] | None, after: dict[str, Finding], since: datetime | None, now: datetime
) -> Changes:
    out = Changes(since.isoformat() if since else None)
    if since is not None and now - since > EVALUATION_INTERVAL:
        out.overdue = (
            f"the previous evaluation ({since.date()}) is {(now - since).days} days old: "
            "CIP-007 R2.2 asks for one at least every 35 days"
        )
    previous = before or {}
    for key, f in after.items():
        old = previous.get(key)
        if old is None:
            out.changes.append(
                Change("new", f, None, "applies to the inventory now" + (" (in KEV)" if f.in_kev else ""))
            )
        elif old.revisions != f.revisions:
            out.changes.append(Change("revised", f, old, "advisory revised: " + ", ".join(f.revisions)))
        elif f.in_kev and not old.in_kev:
            out.changes.append(Change("kev", f, old, f"{f.cve} added to KEV (known exploited)"))
        elif old.decision != f.decision:
            out.changes.append(Change("decision", f, old, f"decision {old.decision} -> {f.decision}"))
    for key, old in previous.items():
        if key not in after:
            out.changes.append(
                Change("gone", old, old, "no longer found: fixed version installed, or the advisory revised")
            )
    return out


def to_record(found: dict[str, Finding], evaluated_at: datetime, inputs: dict[str, str]) -> dict[str, Any]:
    return {
        "evaluated_at": evaluated_at.isoformat(),
        "inputs": inputs,
        "findings": [asdict(f) for f in found.values()],
    }


def from_record(body: dict[str, Any]) -> tuple[datetime, dict[str, Finding]]:
    items = [Finding(**{**f, "revisions": tuple(f["revisions"])}) for f in body["findings"]]
    return datetime.fromisoformat(body["evaluated_at"]), {f.key: f for f in items}
