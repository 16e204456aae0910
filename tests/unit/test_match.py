from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otorchestrator.intake.csaf import load_advisories
from otorchestrator.models.advisory import Score, Vulnerability
from otorchestrator.models.asset import InstalledProduct
from otorchestrator.planning.match import _score_for, _score_table, build_index
from otorchestrator.planning.names import product_key, vendor_aliases, vendor_key, vendor_match

FIXTURES = Path(__file__).parents[1] / "fixtures" / "csaf"


@pytest.fixture(scope="module")
def index():
    advisories, _ = load_advisories([FIXTURES])
    return build_index(advisories)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Siemens AG", "siemens"),
        ("Schneider Electric SE", "schneider electric"),
        ("Rockwell Automation, Inc.", "rockwell automation"),
        ("Mitsubishi Electric Corporation", "mitsubishi electric"),
        ("CODESYS, GmbH", "codesys"),
    ],
)
def test_vendor_key(raw: str, key: str) -> None:
    assert vendor_key(raw) == key


def test_vendor_aliases_and_match() -> None:
    assert set(vendor_aliases("Matrikon, Honeywell")) >= {"matrikon", "honeywell"}
    assert "ge" in vendor_aliases("General Electric (GE)")
    assert vendor_match("HONEYWELL", "Matrikon, Honeywell")
    assert vendor_match("Schneider Electric", "Schneider Electric Software, LLC")
    assert vendor_match("ABB", "Siemens") is None


def test_product_key_drops_generic_words_and_vendor_prefix() -> None:
    assert product_key("SIPROTEC 5 6MD85 devices (CPU variant CP300)") == "siprotec 5 6md85"
    assert product_key("Siemens Polarion ALM", "Siemens AG") == "polarion alm"


def test_match_says_which_rule_and_why(index) -> None:
    hit_match = index.match(
        InstalledProduct(vendor="siemens ag", product="SIPROTEC 5 6MD85", version="V8.80")
    )
    assert hit_match.named and len(hit_match.hits) == 1
    hit = hit_match.hits[0]
    assert hit.cve == "CVE-2021-41769" and hit.advisory.id == "ICSA-22-013-04"
    assert "CSAFPID-0001" in hit.why and "< V8.83" in hit.why and "normalizing" in hit.why
    fixed = index.match(InstalledProduct(vendor="Siemens", product="SIPROTEC 5 6MD85", version="8.83"))
    assert fixed.named and not fixed.hits


@pytest.mark.parametrize(
    ("vendor", "product", "version", "cves"),
    [
        ("Siemens", "SIMATIC Energy Manager PRO", "V7.3", 3),  # < V7.3 Update 1
        ("Siemens", "SIMATIC Energy Manager PRO", "V7.3 Update 1", 0),
        ("Siemens", "DIGSI 4", "V4.94 SP1", 1),  # All versions < V4.94 SP1 HF 1
        ("Horner Automation", "Cscape", "9.90 SP3", 1),  # < 9.90 SP3.5
        ("Modbus Tools", "Modbus Slave", "7.4.2", 1),  # <= 7.4.2
        ("Honeywell", "Matrikon OPC Server", "5.1", 1),  # vers:all/*
        ("Siemens", "Polarion ALM", "V2304", 0),  # vers:all/<V2304.0
        ("Hitachi Energy", "PCM600 Update Manager", "2.2.0.1", 1),  # "2.2 2.2.0.1" list
    ],
)
def test_real_rules(index, vendor: str, product: str, version: str, cves: int) -> None:
    match = index.match(InstalledProduct(vendor=vendor, product=product, version=version))
    assert match.named
    assert len(match.hits) == cves


def test_uninterpretable_rule_needs_review_not_silence(index) -> None:
    match = index.match(InstalledProduct(vendor="Siemens", product="GMA-Manager", version="1.0"))
    assert match.named and not match.hits
    assert [c.rule.product_id for c in match.needs_review] == ["CSAFPID-0002"]
    assert any(c.advisory.id == "ICSA-21-257-18" for c in index.uninterpretable)


def test_unknown_product_is_not_named(index) -> None:
    assert not index.match(InstalledProduct(vendor="Nobody", product="Nothing", version="1")).named


SCORES = st.builds(
    Score,
    version=st.just("3.1"),
    base_score=st.none() | st.sampled_from([0.0, 5.0, 9.8]),
    vector=st.none() | st.sampled_from(["AV:N", "AV:L"]),
    products=st.lists(st.sampled_from(["P1", "P2", "P3"]), max_size=2).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(SCORES, max_size=6), st.sampled_from(["P1", "P2", "P4"]))
def test_the_score_table_picks_what_a_scan_of_the_scores_picks(scores: list[Score], pid: str) -> None:
    # the first of the highest (base score, vector) among the scores naming the product or none; else the
    # vulnerability's best: the same object, ties included
    vuln = Vulnerability(cve="CVE-2024-0001", scores=tuple(scores))
    scored = [s for s in vuln.scores if s.base_score is not None and (not s.products or pid in s.products)]
    best = max(scored, key=lambda s: (s.base_score or 0.0, s.vector or "")) if scored else None
    expected = best if scored else vuln.max_score()
    assert _score_for(vuln, _score_table(vuln), pid) is expected
