"""The SSVC verdict of a plan item (_Verdict, its reason text _ssvc_reason) and the per-call memos that share
asset sides, CVE sides, verdicts, decision points and overlays across the items of one build_plan (_Memo)."""

from __future__ import annotations

from dataclasses import dataclass, field

from otorchestrator.models.advisory import KevEntry
from otorchestrator.models.asset import Asset
from otorchestrator.models.plan import Decision, DecisionPoint
from otorchestrator.planning.overlay import _Overlay
from otorchestrator.planning.prioritize import (
    AssetSide,
    CveDecision,
    CveSide,
    asset_side,
    combine,
    cve_side,
    worst,
)
from otorchestrator.planning.product_plan import _ProductPlan


def _ssvc_reason(chosen: CveDecision, all_cves: tuple[str, ...]) -> str:
    values = {p.name: p.value for p in chosen.points}
    score = f" (CVSS {chosen.cvss:g})" if chosen.cvss is not None else ""
    others = f"; worst of {len(all_cves)} CVEs" if len(all_cves) > 1 else ""
    return (
        f"{chosen.cve}{score}: exploitation {values['Exploitation']}, exposure {values['System Exposure']}, "
        f"automatable {values['Automatable']}, human impact {values['Human Impact']} -> "
        f"{values['Deployer Priority']}{others}"
    )


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
