"""build_plan: inventory x advisories x catalog -> an ordered, explained Plan. Pure; `now` is passed in.

Here: the inputs (PlanInputs), the walk over assets and installed products, ranking, and the plan's warnings,
review candidates and unpatched findings. Per-product planning is in planning/product_plan.py, the
exemption/approval overlay in planning/overlay.py, SSVC verdicts and the per-call memos in
planning/verdict.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from otorchestrator.collector import collector_paused
from otorchestrator.models.advisory import Advisory, KevCatalog
from otorchestrator.models.asset import Inventory
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.exemption import Exemption
from otorchestrator.models.plan import (
    Approval,
    Plan,
    PlanItem,
    ReviewCandidate,
    UnmatchedProduct,
    UnpatchedFinding,
    trusted_fields,
)
from otorchestrator.models.problem import ImportProblem
from otorchestrator.planning.match import (
    AdvisoryIndex,
    build_index,
    fix_problems,
    rule_problems,
)
from otorchestrator.planning.overlay import _asset_specific, _needs_asset_approval, _overlay
from otorchestrator.planning.prioritize import URGENCY, CveSide
from otorchestrator.planning.product_plan import _Patches, _plan_product, _ProductPlan
from otorchestrator.planning.verdict import _Memo


@dataclass(frozen=True)
class PlanInputs:
    inventory: Inventory
    advisories: tuple[Advisory, ...]
    catalog: Catalog
    kev: KevCatalog = field(default_factory=KevCatalog)
    exemptions: tuple[Exemption, ...] = ()
    approvals: tuple[Approval, ...] = ()
    import_problems: tuple[ImportProblem, ...] = ()
    input_hashes: tuple[tuple[str, str], ...] = ()  # (input name, sha256), recorded in the plan


def build_plan(inputs: PlanInputs, now: datetime, index: AdvisoryIndex | None = None) -> Plan:
    """The plan for `inputs` at `now`. Same inputs, same plan (ordering is total and explicit)."""
    with collector_paused():
        return _build_plan(inputs, now, index)


def _build_plan(inputs: PlanInputs, now: datetime, index: AdvisoryIndex | None) -> Plan:
    index = index or build_index(inputs.advisories)
    patches = _Patches.build(inputs.catalog)
    approvals = {
        (a.kind, a.subject): a for a in sorted(inputs.approvals, key=lambda a: (a.kind, a.subject, a.at))
    }
    specific = _asset_specific(approvals)
    memo = _Memo(kev=inputs.kev.by_cve())
    rows: list[tuple[tuple[int, float, int, str, str], dict[str, object]]] = []
    unpatched: list[UnpatchedFinding] = []
    assets = tuple(sorted(inputs.inventory.assets, key=lambda a: a.name))
    products: dict[tuple[str, str, str], _ProductPlan] = {}
    sided: dict[tuple[str, str, str], tuple[_ProductPlan, tuple[int, ...], list[CveSide]]] = {}
    counts: Counter[tuple[str, str, str]] = Counter()  # assets per installed product
    findings: dict[tuple[str, str, str], dict[str, object]] = {}  # an unpatched finding, less its asset
    names: dict[tuple[str, str, str], str] = {}  # "vendor / product"
    finding_names: set[str] | None = None
    for asset in assets:
        profile = (asset.purdue_level, asset.zone, asset.criticality, asset.safety_system)
        # the overlay depends on the asset only through exemptions and approvals naming it, and `need`
        general = asset.name not in specific and not any(
            e.covers_asset(asset.name, asset.groups) for e in inputs.exemptions
        )
        need = _needs_asset_approval(asset)
        rank = -asset.criticality.rank
        side = memo.side(asset, profile)
        for installed in asset.installed_products:
            pkey = (installed.vendor, installed.product, installed.version)
            pp = products.get(pkey)
            if pp is None:
                pp = products[pkey] = _plan_product(index, patches, installed)
                if pp.missing:
                    findings[pkey] = _finding(pkey, pp)
                if pp.patch is not None:
                    sided[pkey] = (pp, *memo.sides(pp))
                names[pkey] = f"{installed.vendor} / {installed.product}"
            counts[pkey] += 1
            if pp.missing:
                finding = {"asset": asset.name, **findings[pkey]}
                finding_names = finding_names or set(finding)  # one set for every finding (frozen class)
                unpatched.append(trusted_fields(UnpatchedFinding, finding, finding_names))
            if pp.patch is None:
                continue
            patch = pp.patch
            verdict, points = memo.verdict(side, profile, sided[pkey])
            outcome = verdict.outcome
            okey = (id(patch), outcome, need)
            overlay = memo.overlays.get(okey) if general else None
            if overlay is None:
                overlay = _overlay(asset, patch, verdict.cves, outcome, inputs.exemptions, approvals, now)
                if general:
                    memo.overlays[okey] = overlay
            rkey = (id(verdict), id(overlay))  # one reasons tuple shared by every such item
            held = memo.reasons.get(rkey)
            if held is None:  # holding verdict and overlay keeps their ids from being reused
                held = memo.reasons[rkey] = (verdict, overlay, (verdict.reason, *overlay.reasons))
            reasons = held[2]
            values: dict[str, object] = {
                "asset": asset.name,
                "patch_id": patch.id,
                "cves": verdict.cves,
                "decision": overlay.decision,
                "priority_rank": 0,
                "explanation": points,
                "reasons": reasons,
                "matched_rules": pp.matched_rules,
                "exemption": overlay.exemption,
                "override": overlay.override,
                "cvss_max": verdict.cvss_max,
                "in_kev": verdict.in_kev,
                "product": names[pkey],
                "installed_version": installed.version,
                "provenance": pp.provenance,
            }
            sort_key = (
                URGENCY[overlay.decision],
                -(verdict.cvss_max or 0.0),
                rank,
                asset.name,
                patch.id,
            )
            rows.append((sort_key, values))
    rows.sort(key=lambda row: row[0])  # stable: equal keys keep inventory order
    ranked = []
    item_names = set(rows[0][1]) if rows else None  # one set for every item (frozen class)
    for n, (_, values) in enumerate(rows, start=1):
        values["priority_rank"] = n
        ranked.append(trusted_fields(PlanItem, values, item_names))
    used = {i.patch_id for i in ranked}
    reviewed = {r for pp in products.values() for r in pp.reviewed}
    through = {t for pp in products.values() for t in pp.through}
    problems = rule_problems(index, reviewed)
    contradictions = fix_problems(index, through)
    unmatched = Counter({k: counts[k] for k, pp in products.items() if not pp.named})
    unparsed = Counter({k: counts[k] for k, pp in products.items() if pp.unparsed})
    missing = {c for pp in products.values() for c in pp.missing}
    review = _review(products, counts)
    warnings = _warnings(unpatched, missing, unmatched, unparsed, problems, inputs.exemptions, now)
    if review:
        warnings += (f"{len(review)} near-name candidate(s) not matched, need a human look (see `review`)",)
    flagged = sum(p.inventory_match for p in contradictions)
    if flagged:
        warnings += (
            f"{flagged} matching advisory rule(s) have a fixed version that contradicts their affected "
            "range (see `fix_contradictions`)",
        )
    return Plan(
        created_at=now,
        inputs=dict(sorted(inputs.input_hashes)),
        assets=assets,
        patches=tuple(p for p in sorted(inputs.catalog.patches, key=lambda p: p.id) if p.id in used),
        items=tuple(ranked),
        approvals=tuple(sorted(inputs.approvals, key=lambda a: (a.kind, a.subject, a.at))),
        warnings=warnings,
        unpatched=tuple(unpatched),
        unmatched_products=tuple(
            UnmatchedProduct(vendor=v, product=p, version=ver, assets=n)
            for (v, p, ver), n in sorted(unmatched.items())
        ),
        uninterpretable_rules=problems,
        review=review,
        fix_contradictions=contradictions,
        import_problems=tuple(inputs.import_problems),
    )


def _finding(pkey: tuple[str, str, str], pp: _ProductPlan) -> dict[str, object]:
    """The fields of an unpatched finding for installed product `pkey`, in field order, all but `asset`."""
    vendor, product, version = pkey
    return {
        "vendor": vendor,
        "product": product,
        "version": version,
        "cves": pp.missing,
        "advisories": pp.missing_advisories,
        "remediation": pp.remediation,
        "provenance": pp.missing_provenance,
        "matched_rules": pp.missing_rules,
    }


def _review(
    products: dict[tuple[str, str, str], _ProductPlan], counts: Counter[tuple[str, str, str]]
) -> tuple[ReviewCandidate, ...]:
    out = [
        ReviewCandidate(
            vendor=vendor,
            product=product,
            version=version,
            assets=counts[(vendor, product, version)],
            advisory=candidate.rule.advisory.id,
            product_id=candidate.rule.rule.product_id,
            reason=candidate.reason,
        )
        for (vendor, product, version), pp in products.items()
        for candidate in pp.near
    ]
    return tuple(sorted(out, key=lambda r: (r.vendor, r.product, r.version, r.advisory, r.product_id)))


def _warnings(
    unpatched: list[UnpatchedFinding],
    missing: set[str],
    unmatched: Counter[tuple[str, str, str]],
    unparsed: Counter[tuple[str, str, str]],
    problems: tuple[object, ...],
    exemptions: tuple[Exemption, ...],
    now: datetime,
) -> tuple[str, ...]:
    out = []
    if unpatched:
        assets = len({u.asset for u in unpatched})
        cves = len(missing)
        out.append(
            f"no patch available: {cves} CVE(s) on {assets} asset(s) have no catalog patch (see `unpatched`)"
        )
    if unmatched:
        out.append(f"{len(unmatched)} installed product(s) named by no advisory (see `unmatched_products`)")
    for (vendor, product, version), n in sorted(unparsed.items()):
        out.append(
            f"installed version {version!r} of {vendor} / {product} on {n} asset(s) "
            "is not a comparable version"
        )
    review = [p for p in problems if getattr(p, "inventory_match", False)]
    if problems:
        out.append(
            f"{len(problems)} advisory rule(s) have version text that could not be interpreted; "
            f"{len(review)} of them "
            "name an installed product and need a human look (see `uninterpretable_rules`)"
        )
    for exemption in sorted(exemptions, key=lambda e: e.id):
        if exemption.is_expired(now):
            out.append(f"exemption {exemption.id} expired {exemption.expires.isoformat()}: not applied")
    return tuple(out)
