"""SSVC prioritization: decision points from data, each with its value and where the value came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from otorchestrator.models.advisory import KevEntry
from otorchestrator.models.asset import Asset, Criticality
from otorchestrator.models.plan import Decision, DecisionPoint
from otorchestrator.planning.match import Hit
from otorchestrator.planning.ssvc import COORDINATOR, DEPLOYER, HUMAN_IMPACT, load_table

OUTCOME_DECISION = {
    "immediate": Decision.IMMEDIATE,
    "out-of-cycle": Decision.OUT_OF_CYCLE,
    "scheduled": Decision.SCHEDULED,
    "defer": Decision.DEFER,
}
_OPEN_ZONE = re.compile(r"dmz|internet|remote|vendor|cloud|corporate|enterprise|wan", re.I)
_SMALL_ZONE = re.compile(r"isolat|air-?gap|standalone|offline", re.I)
MISSION = {
    Criticality.LOW: "degraded",
    Criticality.MEDIUM: "mef support crippled",
    Criticality.HIGH: "mef failure",
    Criticality.CRITICAL: "mission failure",
}
WELL_BEING = {"low": "low", "medium": "medium", "high": "high", "very high": "high"}


@lru_cache(maxsize=65536)
def _point(name: str, value: str, source: str) -> DecisionPoint:
    """One shared (frozen) decision point per distinct text: thousands of items hold the same few points,
    so each is validated once and the plan's content hash writes each once (its writer caches by identity)."""
    return DecisionPoint(name=name, value=value, source=source)


@lru_cache(maxsize=8192)
def cvss_metrics(vector: str | None) -> dict[str, str]:
    if not vector:
        return {}
    return dict(part.split(":", 1) for part in vector.split("/")[1:] if ":" in part)


def exploitation(cve: str, kev: KevEntry | None, note: str | None, vector: str | None) -> DecisionPoint:
    if kev is not None:
        added = f", added {kev.date_added.isoformat()}" if kev.date_added else ""
        return _point(name="Exploitation", value="active", source=f"{cve} is in the CISA KEV catalog{added}")
    if note:
        low = note.lower()
        quoted = note.strip().splitlines()[0][:120]
        if re.search(
            r"actively exploited|exploited in the wild|known to be exploited|active exploitation", low
        ):
            return _point(name="Exploitation", value="active", source=f"advisory: {quoted!r}")
        if re.search(r"no known public exploit|no public exploit", low):
            return _point(name="Exploitation", value="none", source=f"advisory: {quoted!r}")
        if re.search(
            r"public(ly)? (available )?exploit|exploits? .*publicly available|proof[- ]of[- ]concept", low
        ):
            return _point(name="Exploitation", value="public poc", source=f"advisory: {quoted!r}")
    maturity = cvss_metrics(vector).get("E")
    if maturity in ("P", "F", "H"):
        return _point(
            name="Exploitation",
            value="public poc",
            source=f"CVSS exploit code maturity E:{maturity} ({vector})",
        )
    return _point(
        name="Exploitation", value="none", source="default: not in KEV, advisory reports no exploit"
    )


def automatable(vector: str | None) -> DecisionPoint:
    m = cvss_metrics(vector)
    if not m:
        return _point(name="Automatable", value="no", source="default: no CVSS vector")
    auto = m.get("AV") == "N" and m.get("AC") == "L" and m.get("PR") == "N" and m.get("UI") == "N"
    why = (
        "AV:N/AC:L/PR:N/UI:N"
        if auto
        else f"AV:{m.get('AV')}/AC:{m.get('AC')}/PR:{m.get('PR')}/UI:{m.get('UI')}"
    )
    return _point(name="Automatable", value="yes" if auto else "no", source=f"CVSS {why}")


def technical_impact(vector: str | None) -> DecisionPoint:
    m = cvss_metrics(vector)
    if not m:
        return _point(name="Technical Impact", value="partial", source="default: no CVSS vector")
    total = m.get("C") == "H" and m.get("I") == "H" and m.get("A") == "H"
    return _point(
        name="Technical Impact",
        value="total" if total else "partial",
        source=f"CVSS C:{m.get('C')}/I:{m.get('I')}/A:{m.get('A')}",
    )


def system_exposure(asset: Asset) -> DecisionPoint:
    where = f"Purdue level {asset.purdue_level:g}, zone {asset.zone!r}"
    if _OPEN_ZONE.search(asset.zone) or asset.purdue_level >= 3.5:
        return _point(name="System Exposure", value="open", source=f"{where}: DMZ or above")
    if _SMALL_ZONE.search(asset.zone) or asset.purdue_level <= 1:
        return _point(name="System Exposure", value="small", source=f"{where}: control/field level")
    return _point(name="System Exposure", value="controlled", source=f"{where}: inside the OT network")


def safety_impact(asset: Asset) -> DecisionPoint:
    if asset.safety_system:
        return _point(name="Safety Impact", value="catastrophic", source="asset is a safety system")
    value = {
        Criticality.CRITICAL: "critical",
        Criticality.HIGH: "critical",
        Criticality.MEDIUM: "marginal",
    }.get(asset.criticality, "negligible")
    return _point(name="Safety Impact", value=value, source=f"criticality {asset.criticality.value}")


def mission_impact(asset: Asset) -> DecisionPoint:
    return _point(
        name="Mission Impact",
        value=MISSION[asset.criticality],
        source=f"criticality {asset.criticality.value}",
    )


@dataclass(frozen=True, slots=True)
class CveDecision:
    cve: str
    outcome: Decision
    points: tuple[DecisionPoint, ...]
    cvss: float | None


@dataclass(frozen=True, slots=True)
class CveSide:
    """Decision points that depend on the vulnerability only."""

    cve: DecisionPoint
    exploitation: DecisionPoint
    automatable: DecisionPoint
    technical_impact: DecisionPoint
    cvss: float | None


@dataclass(frozen=True, slots=True)
class AssetSide:
    """Decision points that depend on the asset only."""

    exposure: DecisionPoint
    safety: DecisionPoint
    mission: DecisionPoint
    human: DecisionPoint
    well_being: DecisionPoint


def cve_side(hit: Hit, kev: KevEntry | None) -> CveSide:
    vector = hit.score.vector if hit.score else None
    note = hit.vuln.exploitation_note or hit.advisory.exploitation_note
    return CveSide(
        cve=_point(name="CVE", value=hit.cve, source=f"{hit.advisory.id} ({hit.advisory.source})"),
        exploitation=exploitation(hit.cve, kev, note, vector),
        automatable=automatable(vector),
        technical_impact=technical_impact(vector),
        cvss=hit.score.base_score if hit.score else None,
    )


def asset_side(asset: Asset) -> AssetSide:
    safety, mission = safety_impact(asset), mission_impact(asset)
    human_value = load_table(HUMAN_IMPACT).lookup(
        {"Safety Impact": safety.value, "Mission Impact": mission.value}
    )
    return AssetSide(
        exposure=system_exposure(asset),
        safety=safety,
        mission=mission,
        human=_point(
            name="Human Impact",
            value=human_value,
            source=f"SSVC human impact table: safety {safety.value} x mission {mission.value}",
        ),
        well_being=_point(
            name="Mission and Well-Being Impact",
            value=WELL_BEING[human_value],
            source=f"human impact {human_value}",
        ),
    )


@lru_cache(maxsize=4096)
def _verdict(
    exploitation: str, exposure: str, automatable: str, human: str, technical: str, well_being: str
) -> tuple[Decision, DecisionPoint, DecisionPoint]:
    """The deployer outcome and the two outcome decision points, once per distinct set of values."""
    points = {
        "Exploitation": exploitation,
        "System Exposure": exposure,
        "Automatable": automatable,
        "Human Impact": human,
        "Technical Impact": technical,
        "Mission and Well-Being Impact": well_being,
    }
    outcome = load_table(DEPLOYER).lookup(points)
    cisa = load_table(COORDINATOR).lookup(points)
    return (
        OUTCOME_DECISION[outcome],
        DecisionPoint.model_construct(
            name="CISA Levels", value=cisa, source="SSVC CISA coordinator 2.0.3 (for reference)"
        ),
        DecisionPoint.model_construct(
            name="Deployer Priority",
            value=outcome,
            source="SSVC deployer patch application priority 1.0.0: "
            f"{exploitation}, {exposure}, automatable {automatable}, human impact {human}",
        ),
    )


def _verdict_of(vuln: CveSide, asset: AssetSide) -> tuple[Decision, DecisionPoint, DecisionPoint]:
    """The cached verdict for one CVE side and one asset side (`combine` and `outcome` both read it)."""
    return _verdict(
        vuln.exploitation.value,
        asset.exposure.value,
        vuln.automatable.value,
        asset.human.value,
        vuln.technical_impact.value,
        asset.well_being.value,
    )


def combine(vuln: CveSide, asset: AssetSide) -> CveDecision:
    outcome, cisa, deployer = _verdict_of(vuln, asset)
    points = (
        vuln.cve,
        vuln.exploitation,
        asset.exposure,
        vuln.automatable,
        asset.safety,
        asset.mission,
        asset.human,
        vuln.technical_impact,
        asset.well_being,
        cisa,
        deployer,
    )
    return CveDecision(vuln.cve.value, outcome, points, vuln.cvss)


def decide_cve(asset: Asset, hit: Hit, kev: KevEntry | None) -> CveDecision:
    return combine(cve_side(hit, kev), asset_side(asset))


URGENCY = {d: d.urgency for d in Decision}


def outcome(vuln: CveSide, asset: AssetSide) -> Decision:
    """`combine(vuln, asset).outcome`, without building the decision points."""
    return _verdict_of(vuln, asset)[0]


def worst(vulns: list[CveSide], asset: AssetSide) -> CveSide:
    """The most urgent CVE decides the item: urgency, then CVSS, then CVE id (only its decision points are
    then built, by `combine`)."""
    return min(vulns, key=lambda v: (URGENCY[outcome(v, asset)], -(v.cvss or 0.0), v.cve.value))
