"""build_plan: inventory x advisories x catalog -> an ordered, explained Plan. Pure; `now` is passed in."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from otorchestrator.collector import collector_paused
from otorchestrator.models.advisory import Advisory, KevCatalog, KevEntry, Provenance
from otorchestrator.models.asset import Asset, Criticality, InstalledProduct, Inventory
from otorchestrator.models.catalog import Catalog, Patch, Qualification
from otorchestrator.models.exemption import Exemption
from otorchestrator.models.plan import (
    Approval,
    Decision,
    DecisionPoint,
    ExemptionRef,
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
    Hit,
    NearName,
    build_index,
    fix_problems,
    rule_problems,
)
from otorchestrator.planning.names import product_key, vendor_match
from otorchestrator.planning.prioritize import (
    URGENCY,
    AssetSide,
    CveDecision,
    CveSide,
    asset_side,
    combine,
    cve_side,
    worst,
)
from otorchestrator.planning.versions import Version, parse_deb, parse_version


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


@dataclass
class _Patches:
    by_product: dict[str, list[tuple[Patch, Version | None]]]

    @classmethod
    def build(cls, catalog: Catalog) -> _Patches:
        grouped: dict[str, list[tuple[Patch, Version | None]]] = defaultdict(list)
        for patch in sorted(catalog.patches, key=lambda p: p.id):
            entry = (patch, parse_version(patch.fixed_version))
            for key in sorted({product_key(patch.product, patch.vendor), product_key(patch.product)}):
                grouped[key].append(entry)
        return cls(dict(grouped))

    def for_product(self, installed: InstalledProduct, version: Version | None) -> list[Patch]:
        out: list[Patch] = []
        keys = dict.fromkeys(
            (product_key(installed.product, installed.vendor), product_key(installed.product))
        )
        for patch, fixed in (e for key in keys for e in self.by_product.get(key, [])):
            if any(p is patch for p in out):  # the same entry under both keys (pydantic's == is slow)
                continue
            if vendor_match(installed.vendor, patch.vendor) is None:
                continue
            if installed.package and patch.package:  # Debian packages: dpkg's order (`1:1.0` > `2.0`)
                mine, target = parse_deb(installed.version), parse_deb(patch.fixed_version)
                if mine is not None and target is not None:
                    if mine < target:
                        out.append(patch)
                    continue
            if version is not None and fixed is not None and version < fixed:
                out.append(patch)
        return out


def _choose(patches: list[Patch], cves: list[str]) -> tuple[Patch, tuple[str, ...]] | None:
    """The patch covering most of the CVEs (then highest target version, then id)."""
    best: tuple[Patch, tuple[str, ...]] | None = None
    best_key: tuple[int, Version | None] | None = None
    for patch in patches:
        covered = tuple(c for c in cves if not patch.fixes or c in patch.fixes)
        if not covered:
            continue
        key = (len(covered), parse_version(patch.target_version))
        better = best_key is None or key[0] > best_key[0]
        if best_key is not None and key[0] == best_key[0] and key[1] is not None:
            better = best_key[1] is None or key[1] > best_key[1]
        if better:
            best, best_key = (patch, covered), key
    return best


def _needs_asset_approval(asset: Asset) -> str | None:
    if asset.safety_system:
        return "safety system"
    if asset.criticality in (Criticality.HIGH, Criticality.CRITICAL):
        return f"criticality {asset.criticality.value}"
    return None


def _ref(exemption: Exemption, now: datetime) -> ExemptionRef:
    return ExemptionRef(
        id=exemption.id,
        reason=exemption.reason,
        compensating_controls=exemption.compensating_controls,
        approver=exemption.approver,
        expires=exemption.expires,
        expired=exemption.is_expired(now),
    )


@dataclass(frozen=True, slots=True)
class _Overlay:
    decision: Decision
    reasons: tuple[str, ...]
    exemption: ExemptionRef | None
    override: Approval | None


def _overlay(
    asset: Asset,
    patch: Patch,
    cves: tuple[str, ...],
    ssvc: Decision,
    exemptions: tuple[Exemption, ...],
    approvals: dict[tuple[str, str], Approval],
    now: datetime,
) -> _Overlay:
    reasons: list[str] = []
    decision, ref, override = ssvc, None, None
    scoped = [e for e in exemptions if e.covers_asset(asset.name, asset.groups)] if exemptions else []
    relevant = [e for e in scoped if patch.id in e.patches or any(c in e.cves for c in cves)]
    active = [e for e in relevant if not e.is_expired(now)]
    for expired in (e for e in relevant if e.is_expired(now)):
        reasons.append(f"exemption {expired.id} expired {expired.expires.isoformat()}: flagged, not applied")
        ref = ref or _ref(expired, now)
    covered = {c for e in active for c in e.cves}
    applying = [e for e in active if patch.id in e.patches] or (
        active if active and all(c in covered for c in cves) else []
    )
    if applying:
        chosen = applying[0]
        decision, ref = Decision.EXEMPT, _ref(chosen, now)
        reasons.append(
            f"exempt under {chosen.id} until {chosen.expires.isoformat()} (approved by {chosen.approver}): "
            f"{chosen.reason}; compensating controls: {'; '.join(chosen.compensating_controls)}"
        )
    elif active:
        missing = sorted(c for c in cves if c not in covered)
        reasons.append(
            f"exemption {active[0].id} covers only part of the CVEs; not exempt for {', '.join(missing)}"
        )
    if decision is not Decision.EXEMPT and patch.qualification is not Qualification.QUALIFIED:
        approval = approvals.get(("unqualified_patch", f"{patch.id}@{asset.name}")) or approvals.get(
            ("unqualified_patch", patch.id)
        )
        if approval is None:
            reasons.append(
                f"blocked: patch {patch.id} is {patch.qualification.value} by the vendor and the plan "
                "records no "
                "override (approval kind unqualified_patch)"
            )
            decision = Decision.BLOCKED
        else:
            override = approval
            reasons.append(
                f"patch {patch.id} is {patch.qualification.value}: "
                f"override approved by {approval.approved_by} "
                f"at {approval.at.isoformat()}: {approval.reason}"
            )
    need = _needs_asset_approval(asset)
    if need and decision.deployable:
        approved = approvals.get(("asset", asset.name))
        reasons.append(
            f"{need}: asset approval by {approved.approved_by}"
            if approved
            else f"{need}: needs an asset approval recorded in the plan before a wave may include it"
        )
    return _Overlay(decision, tuple(reasons), ref, override)


@dataclass(frozen=True, slots=True)
class _ProductPlan:
    """Everything about one distinct installed product (vendor, product, version), computed once."""

    named: bool
    unparsed: bool
    reviewed: tuple[tuple[str, str], ...]
    patch: Patch | None = None
    covered: tuple[tuple[str, Hit], ...] = ()  # (cve, the first hit naming it)
    matched_rules: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    missing_advisories: tuple[str, ...] = ()
    missing_rules: tuple[str, ...] = ()
    remediation: str = ""
    provenance: tuple[Provenance, ...] = ()  # of the advisories behind `covered`
    missing_provenance: tuple[Provenance, ...] = ()  # of `missing_advisories`
    near: tuple[NearName, ...] = ()
    through: tuple[tuple[str, str], ...] = ()  # (advisory, product id) of every hit


def _provenance(hits: Iterable[Hit]) -> tuple[Provenance, ...]:
    """The stored revisions (one per advisory, by id) behind `hits`; () for advisories read from a folder."""
    found = {h.advisory.id: h.advisory.provenance for h in hits if h.advisory.provenance is not None}
    return tuple(found[a] for a in sorted(found))


def _plan_product(index: AdvisoryIndex, patches: _Patches, installed: InstalledProduct) -> _ProductPlan:
    match = index.match(installed)
    reviewed = tuple((c.advisory.id, c.rule.product_id) for c in match.needs_review)
    version = parse_version(installed.version)
    if not match.hits:
        return _ProductPlan(named=match.named, unparsed=False, reviewed=reviewed, near=match.near)
    by_cve: dict[str, list[Hit]] = defaultdict(list)
    for hit in match.hits:
        by_cve[hit.cve].append(hit)
    cves = sorted(by_cve)
    chosen = _choose(patches.for_product(installed, version), cves)
    covered = chosen[1] if chosen else ()
    missing = tuple(c for c in cves if c not in covered)
    missing_hits = [h for c in missing for h in by_cve[c]]
    return _ProductPlan(
        named=match.named,
        unparsed=version is None,
        reviewed=reviewed,
        patch=chosen[0] if chosen else None,
        covered=tuple((c, by_cve[c][0]) for c in covered),
        matched_rules=tuple(sorted({h.why for c in covered for h in by_cve[c]})),
        missing=missing,
        missing_advisories=tuple(sorted({h.advisory.id for h in missing_hits})),
        missing_rules=tuple(sorted({h.why for h in missing_hits})),
        remediation=_remediation_text(missing_hits),
        provenance=_provenance(h for c in covered for h in by_cve[c]),
        missing_provenance=_provenance(missing_hits),
        near=match.near,
        through=tuple(sorted({(h.advisory.id, h.rule.product_id) for h in match.hits})),
    )


def _ssvc_reason(chosen: CveDecision, all_cves: tuple[str, ...]) -> str:
    values = {p.name: p.value for p in chosen.points}
    score = f" (CVSS {chosen.cvss:g})" if chosen.cvss is not None else ""
    others = f"; worst of {len(all_cves)} CVEs" if len(all_cves) > 1 else ""
    return (
        f"{chosen.cve}{score}: exploitation {values['Exploitation']}, exposure {values['System Exposure']}, "
        f"automatable {values['Automatable']}, human impact {values['Human Impact']} -> "
        f"{values['Deployer Priority']}{others}"
    )


def _remediation_text(hits: list[Hit]) -> str:
    seen: dict[str, None] = {}
    for hit in hits:
        summary = hit.fix
        if summary:
            seen.setdefault(summary)
    return " | ".join(list(seen)[:3])


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The SSVC outcome of an item. It depends on the asset only through the decision point values (exposure,
    human impact), and on the product only through its covered CVEs' decision points, so it is shared by
    every asset with those values and every installed product with those CVE sides."""

    top: CveSide  # the deciding CVE's side
    outcome: Decision
    cves: tuple[str, ...]
    reason: str
    cvss_max: float | None
    in_kev: bool


@dataclass
class _Memo:
    """Per-call memos: decision points by (asset profile, CVE side), CVE sides by value, the CVE sides of each
    installed product, verdicts by (asset values, CVE sides)."""

    kev: dict[str, KevEntry]
    asset_sides: dict[tuple[object, ...], tuple[AssetSide, tuple[str, str, str]]] = field(
        default_factory=dict
    )
    cve_sides: dict[tuple[str, str, str], CveSide] = field(default_factory=dict)
    shared_sides: dict[tuple[object, ...], CveSide] = field(default_factory=dict)
    verdicts: dict[tuple[object, ...], _Verdict] = field(default_factory=dict)
    points: dict[tuple[object, ...], tuple[DecisionPoint, ...]] = field(default_factory=dict)
    overlays: dict[tuple[object, ...], _Overlay] = field(default_factory=dict)
    reasons: dict[tuple[int, int], tuple[_Verdict, _Overlay, tuple[str, ...]]] = field(default_factory=dict)

    def side(self, asset: Asset, profile: tuple[object, ...]) -> tuple[AssetSide, tuple[str, str, str]]:
        """The asset side of `asset` (whose profile is `profile`) and the values a verdict reads of it."""
        found = self.asset_sides.get(profile)
        if found is None:
            side = asset_side(asset)
            found = self.asset_sides[profile] = (
                side,
                (side.exposure.value, side.human.value, side.well_being.value),
            )
        return found

    def verdict(
        self,
        side: tuple[AssetSide, tuple[str, str, str]],
        profile: tuple[object, ...],
        product: tuple[_ProductPlan, tuple[int, ...], list[CveSide]],
    ) -> tuple[_Verdict, tuple[DecisionPoint, ...]]:
        """The verdict for a product (its plan, `sides`) on an asset (`side`, its profile), and the deciding
        CVE's decision points (the explanation)."""
        vkey = (side[1], product[1])
        found = self.verdicts.get(vkey)
        if found is None:
            found = self.verdicts[vkey] = self._decide(side[0], profile, product[0], product[2])
        pkey = (profile, id(found.top))
        points = self.points.get(pkey)
        if points is None:
            points = self.points[pkey] = combine(found.top, side[0]).points
        return found, points

    def sides(self, pp: _ProductPlan) -> tuple[tuple[int, ...], list[CveSide]]:
        """The CVE sides of `pp`'s covered CVEs, in its order, each shared with every equal side (the verdict
        reads nothing else of the product), and their identities: the product's part of a verdict key."""
        vulns: list[CveSide] = []
        for cve, hit in pp.covered:
            cve_key = (cve, hit.advisory.id, hit.rule.product_id)
            vuln_side = self.cve_sides.get(cve_key)
            if vuln_side is None:
                made = cve_side(hit, self.kev.get(cve))
                value = (id(made.cve), id(made.exploitation), id(made.automatable), id(made.technical_impact))
                vuln_side = self.shared_sides.setdefault((*value, made.cvss), made)  # it holds its points
                self.cve_sides[cve_key] = vuln_side
            vulns.append(vuln_side)
        return tuple(id(v) for v in vulns), vulns

    def _decide(
        self, side: AssetSide, profile: tuple[object, ...], pp: _ProductPlan, vulns: list[CveSide]
    ) -> _Verdict:
        chosen = worst(vulns, side)
        top = combine(chosen, side)
        self.points[(profile, id(chosen))] = top.points
        cves = tuple(c for c, _ in pp.covered)
        scores = [v.cvss for v in vulns if v.cvss is not None]
        return _Verdict(
            chosen,
            top.outcome,
            cves,
            _ssvc_reason(top, cves),
            max(scores) if scores else None,
            any(c in self.kev for c in cves),
        )


def _asset_specific(approvals: dict[tuple[str, str], Approval]) -> set[str]:
    """Asset names an approval may name: `asset` subjects and every `<patch>@<asset>` reading of a subject."""
    names = {subject for kind, subject in approvals if kind == "asset"}
    for kind, subject in approvals:
        if kind == "unqualified_patch":
            names.update(subject[i + 1 :] for i, ch in enumerate(subject) if ch == "@")
    return names


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
