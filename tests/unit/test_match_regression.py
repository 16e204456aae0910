"""Matching on real advisories (tests/fixtures/csaf_regression/, copied unchanged from ../shared/data/csaf),
one test per defect of issue 14; each expected result was read off the advisory by hand (cited inline).
Every test here failed on main before the fix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from plan_helpers import asset

from otorchestrator.intake.csaf import load_advisories
from otorchestrator.models.advisory import Advisory, ProductRule, Vulnerability
from otorchestrator.models.asset import InstalledProduct, Inventory
from otorchestrator.models.catalog import Catalog
from otorchestrator.planning.match import AdvisoryIndex, build_index
from otorchestrator.planning.plan import PlanInputs, build_plan
from otorchestrator.planning.versions import parse_spec, parse_version

FIXTURES = Path(__file__).parents[1] / "fixtures" / "csaf_regression"
NOW = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def advisories() -> tuple[Advisory, ...]:
    found, problems = load_advisories([FIXTURES])
    assert len(found) == 6 and not [p for p in problems if p.severity == "error"]
    return found


@pytest.fixture(scope="module")
def index(advisories: tuple[Advisory, ...]) -> AdvisoryIndex:
    return build_index(advisories)


def cves(index: AdvisoryIndex, vendor: str, product: str, version: str) -> set[str]:
    return {
        h.cve for h in index.match(InstalledProduct(vendor=vendor, product=product, version=version)).hits
    }


# --- order-number variants are distinct products --------------------------------------------------------


def test_a_variant_fixed_by_its_own_rule_gets_no_cves_from_siblings(index: AdvisoryIndex) -> None:
    """ICSA-22-167-14: `SCALANCE XF204 (6GK5204-0BA00-2GF2)` is CSAFPID-000223, `vers:all/<V4.4` (fixed in
    V4.4); its sibling `SCALANCE XF204 (6GK5204-0BA00-2AF2)` (CSAFPID-000222) is `vers:all/*`. On main the
    fixed 2GF2 at V4.4 got CVE-2022-0778 through the 2AF2 rule."""
    assert cves(index, "Siemens", "SCALANCE XF204 (6GK5204-0BA00-2GF2)", "V4.4") == set()
    assert cves(index, "Siemens", "SCALANCE XF204 (6GK5204-0BA00-2GF2)", "V4.3") == {"CVE-2022-0778"}
    assert cves(index, "Siemens", "SCALANCE XF204 (6GK5204-0BA00-2AF2)", "V4.4") == {"CVE-2022-0778"}


def test_each_variant_matches_only_its_own_rule(index: AdvisoryIndex) -> None:
    """ICSA-22-167-14: three `SCALANCE M876-4` variants, each its own rule `<V7.2` (CSAFPID-00029/30/31).
    The EU variant matches its own rule only (main: all three). An inventory that names no variant
    matches all three, to be safe, and says so."""
    match = index.match(
        InstalledProduct(
            vendor="Siemens", product="SCALANCE M876-4 (EU) (6GK5876-4AA00-2BA2)", version="V7.1"
        )
    )
    assert sorted({h.rule.product_id for h in match.hits}) == ["CSAFPID-00030"]
    vague = index.match(InstalledProduct(vendor="Siemens", product="SCALANCE M876-4", version="V7.1"))
    assert sorted({h.rule.product_id for h in vague.hits}) == [
        "CSAFPID-00029",
        "CSAFPID-00030",
        "CSAFPID-00031",
    ]
    assert all("does not pin the variant" in h.why for h in vague.hits)


# --- N.x bounds are wildcards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "version", "affected"),
    [
        # ICSA-21-075-02 CSAFPID-0002 ">= 7.4x | <= 8.0x" ("firmware versions 7.4x to 8.0x"): 9 CVEs
        ("Vulnerabilities related to SSH Support", "7.4.0", True),  # main: missed (7.4 < "7.4x")
        ("Vulnerabilities related to SSH Support", "8.0.1", True),  # main: missed (8.0.1 > "8.0x")
        ("Vulnerabilities related to SSH Support", "8.1", False),
        ("Vulnerabilities related to SSH Support", "7.3.9", False),
        # CSAFPID-0004 "< 8.1x" ("all versions prior to version 8.1x"): 8.1.0 is an 8.1x version
        ("Web server vulnerabilities", "8.1.0", False),  # main: matched
        ("Web server vulnerabilities", "8.0.9", True),
    ],
)
def test_x_bounds_are_wildcards(index: AdvisoryIndex, product: str, version: str, affected: bool) -> None:
    found = cves(index, "General Electric (GE)", product, version)
    assert (len(found) == 9) if affected else not found


def test_x_lower_bound_includes_the_dot_zero(index: AdvisoryIndex) -> None:
    """ICSA-21-278-03: MXview ">= 3.x | <= 3.2.2" ("Versions 3.x to 3.2.2"), 5 CVEs; main missed 3.0."""
    assert len(cves(index, "Moxa", "MXview Network Management Software", "3.0")) == 5
    assert not cves(index, "Moxa", "MXview Network Management Software", "3.2.3")


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (">= 6.x | <= 10.x", ["6.0", "6.5", "10.1", "10.99.3"], ["5.9", "11.0"]),
        ("R7x", ["7.0", "R7.5"], ["6.9", "8.0"]),
        ("5.16.x", ["5.16", "5.16.3"], ["5.15.9", "5.17"]),
        ("<= 12.2.x.x", ["12.2.9.9"], ["12.3"]),
        ("> 6.x", ["7.0"], ["6.9"]),
    ],
)
def test_wildcard_specs(text: str, inside: list[str], outside: list[str]) -> None:
    spec = parse_spec(text)
    assert [spec.contains(parse_version(v)) for v in inside] == [True] * len(inside)  # type: ignore[arg-type]
    assert [spec.contains(parse_version(v)) for v in outside] == [False] * len(outside)  # type: ignore[arg-type]


# --- near names go to review ----------------------------------------------------------------------------


def test_family_named_by_the_advisory_is_a_review_candidate(index: AdvisoryIndex) -> None:
    """ICSA-21-245-03 names `WebAccess` (<= 9.02); the inventory has `WebAccess/SCADA` 9.0.1: not matched,
    not silent (main: nothing at all)."""
    match = index.match(InstalledProduct(vendor="Advantech", product="WebAccess/SCADA", version="9.0.1"))
    assert not match.hits
    assert [(n.rule.advisory.id, n.rule.rule.product_id) for n in match.near] == [
        ("ICSA-21-245-03", "CSAFPID-0001")
    ]
    assert "'WebAccess'" in match.near[0].reason and "'WebAccess/SCADA'" in match.near[0].reason
    # outside the family rule's range: nothing to review
    assert not index.match(
        InstalledProduct(vendor="Advantech", product="WebAccess/SCADA", version="9.10")
    ).near


def test_thinmanager_family_vs_thinserver_component() -> None:
    """The issue's case: the advisory says `ThinManager`, the inventory `ThinManager ThinServer`."""
    advisory = Advisory(
        id="ADV-TM",
        products=(
            ProductRule(
                product_id="P1", vendor="Rockwell Automation", product="ThinManager", version="<= 13.0.1"
            ),
        ),
        vulnerabilities=(Vulnerability(cve="CVE-2023-2913", affected=("P1",)),),
    )
    index = build_index((advisory,))
    product = InstalledProduct(
        vendor="Rockwell Automation", product="ThinManager ThinServer", version="13.0.0"
    )
    match = index.match(product)
    assert not match.hits and len(match.near) == 1 and "family 'ThinManager'" in match.near[0].reason


def test_vendor_alias(index: AdvisoryIndex) -> None:
    """ICSA-22-020-01: vendor `Mitsubishi Electric`, product `MC Works64` (<4.04E_10.95.210.01). Installed as
    `ICONICS, Mitsubishi Electric` it matches through the alias; as `ICONICS` alone it is reviewed."""
    assert cves(index, "ICONICS, Mitsubishi Electric", "MC Works64", "4.04")
    alone = index.match(InstalledProduct(vendor="ICONICS", product="MC Works64", version="4.04"))
    assert (
        not alone.hits and alone.near and all("vendor 'Mitsubishi Electric'" in n.reason for n in alone.near)
    )


# --- fixed version contradicting the range --------------------------------------------------------------


def test_fixed_version_inside_or_above_the_range_is_flagged(index: AdvisoryIndex) -> None:
    """ICSA-22-349-20: CSAFPID-0003 `Teamcenter Visualization V13.3` is `<V13.3.0.9` but its vendor_fix says
    "Update to V13.3.0.8" (inside); CSAFPID-0004 is `<V13.3.0.8` with fix V13.3.0.9 (above the end: 13.3.0.8
    is neither affected nor fixed)."""
    notes = {c.rule.product_id: c.fix_note for c in index.contradicted if c.advisory.id == "ICSA-22-349-20"}
    assert "V13.3.0.8" in notes["CSAFPID-0003"] and "inside the affected range" in notes["CSAFPID-0003"]
    assert "above the end" in notes["CSAFPID-0004"] and "V13.3.0.9" in notes["CSAFPID-0004"]
    hit = index.match(
        InstalledProduct(vendor="Siemens", product="Teamcenter Visualization V13.3", version="V13.3.0.8")
    ).hits[0]
    assert "inside the affected range" in hit.why  # every finding through it carries the note


def test_a_consistent_fix_is_not_flagged(index: AdvisoryIndex) -> None:
    """ICSA-21-278-03 (MXview `<= 3.2.2`) and ICSA-21-075-02 (GE): no fixed version that contradicts the
    range (an inclusive end says nothing about where the fix is); of ICSA-22-349-20 only the two swapped
    Teamcenter V13.3 / V14.0 pairs are flagged."""
    flagged = {(c.advisory.id, c.rule.product_id) for c in index.contradicted}
    assert not any(a in ("ICSA-21-278-03", "ICSA-21-075-02") for a, _ in flagged)
    assert sorted(p for a, p in flagged if a == "ICSA-22-349-20") == [
        "CSAFPID-0003",
        "CSAFPID-0004",
        "CSAFPID-0005",
        "CSAFPID-0006",
    ]


# --- every finding names advisory, product-tree entry and version text ------------------------------------


def test_unpatched_findings_name_the_rule(advisories: tuple[Advisory, ...]) -> None:
    host = asset(
        "h1", ("Moxa", "MXview Network Management Software", "3.0"), ("Advantech", "WebAccess/SCADA", "9.0")
    )
    plan = build_plan(
        PlanInputs(inventory=Inventory(source="t", assets=(host,)), advisories=advisories, catalog=Catalog()),
        NOW,
    )
    (finding,) = plan.unpatched
    assert len(finding.cves) == 5
    (rule,) = finding.matched_rules
    assert rule.startswith(
        "ICSA-21-278-03 CSAFPID-0001 'MXview Network Management Software: Versions 3.x to 3.2.2'"
    )
    assert "(version text '>= 3.x | <= 3.2.2')" in rule and "version 3.0 in >=3 | <=3.2.2" in rule
    (review,) = plan.review
    assert (review.product, review.advisory, review.assets) == ("WebAccess/SCADA", "ICSA-21-245-03", 1)
    assert any("near-name" in w for w in plan.warnings)
    assert plan.sealed().content_hash == plan.sealed().content_hash
