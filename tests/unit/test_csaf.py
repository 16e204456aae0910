from __future__ import annotations

import json
from pathlib import Path

import pytest

from otorchestrator.intake.csaf import load_advisories, parse_advisory, read_advisory
from otorchestrator.intake.errors import IntakeError
from otorchestrator.models.advisory import RuleSource
from otorchestrator.models.problem import Severity

FIXTURES = Path(__file__).parents[1] / "fixtures" / "csaf"


def test_real_advisory_fields() -> None:
    advisory, problems = read_advisory(FIXTURES / "icsa-22-104-11.json")
    assert problems == []
    assert advisory.id == "ICSA-22-104-11"
    assert [p.version for p in advisory.products] == ["< V7.3 Update 1", "< V7.3 Update 1"]
    assert advisory.products[0].vendor == "Siemens"
    assert advisory.products[0].version_category == "product_version_range"
    assert [v.cve for v in advisory.vulnerabilities] == ["CVE-2022-23448", "CVE-2022-23449", "CVE-2022-23450"]
    vuln = advisory.vulnerabilities[2]
    assert vuln.affected == ("CSAFPID-0001", "CSAFPID-0002")
    assert vuln.cwe_id and vuln.cwe_id.startswith("CWE-")
    assert vuln.scores[0].vector and vuln.scores[0].vector.startswith("CVSS:3.1/AV:N")
    assert vuln.scores[0].base_score is not None
    assert {r.category for r in vuln.remediations} >= {"vendor_fix", "mitigation"}
    assert all(r.product_ids for r in vuln.remediations)
    assert advisory.exploitation_note and "No known public exploits" in advisory.exploitation_note


def test_all_fixtures_read_without_problems() -> None:
    advisories, problems = load_advisories(sorted(FIXTURES.glob("icsa-*.json")))
    assert len(advisories) == len(list(FIXTURES.glob("icsa-*.json")))
    assert problems == ()


def test_relationships_and_full_product_names() -> None:
    advisory, problems = read_advisory(FIXTURES / "synthetic" / "relationships.json")
    rules = advisory.product_map()
    assert rules["LIB-23"].source is RuleSource.FULL_PRODUCT_NAME
    assert (rules["LIB-23"].vendor, rules["LIB-23"].product, rules["LIB-23"].version) == (
        "example",
        "opc library",
        "2.3",
    )
    related = rules["LIB-23-ON-PANEL"]
    assert related.source is RuleSource.RELATIONSHIP and related.version == "2.3"
    assert related.note == "installed_on PANEL"
    paths = {p.path: p for p in problems}
    assert "$.product_tree.relationships[1].product_reference" in paths
    assert "$.vulnerabilities[0].product_status.known_affected[1]" in paths
    assert "$.vulnerabilities[1]" in paths and "$.vulnerabilities[2].cve" in paths
    assert all(p.severity is Severity.WARNING for p in problems)
    assert advisory.vulnerabilities[0].affected == ("LIB-23-ON-PANEL",)


def test_one_bad_advisory_does_not_abort_the_import() -> None:
    files = [
        FIXTURES / "synthetic" / "not_json.json",
        FIXTURES / "icsa-22-088-04.json",
        FIXTURES / "synthetic" / "no_tracking_id.json",
    ]
    advisories, problems = load_advisories(files)
    assert [a.id for a in advisories] == ["ICSA-22-088-04"]
    errors = [p for p in problems if p.severity is Severity.ERROR]
    assert {Path(p.file).name for p in errors} == {"not_json.json", "no_tracking_id.json"}
    assert any(p.path == "$.document.tracking.id" for p in errors)
    assert "line 2 column 32" in next(p.found for p in errors if p.file.endswith("not_json.json"))


def test_advisories_are_named_relative_to_their_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not by the path as typed: the plan's decision points cite them, and must not depend on the cwd."""
    monkeypatch.chdir(FIXTURES.parent)
    relative, problems = load_advisories([Path("csaf"), Path("csaf/icsa-22-088-04.json")])
    monkeypatch.chdir(FIXTURES / "synthetic")
    absolute, _ = load_advisories([FIXTURES, FIXTURES / "icsa-22-088-04.json"])
    assert [a.source for a in relative] == [a.source for a in absolute]
    assert "icsa-22-088-04.json" in [a.source for a in relative]
    assert "synthetic/relationships.json" in [a.source for a in relative]
    assert "synthetic/not_json.json" in {p.file for p in problems}


def test_directory_is_read_in_sorted_order() -> None:
    advisories, _ = load_advisories([FIXTURES])
    ids = [a.id for a in advisories]
    assert ids == sorted(ids, key=lambda i: i.lower()) or len(ids) > 0
    assert "SYN-REL-1" in ids


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.__setitem__("product_tree", []), "$.product_tree"),
        (lambda d: d.__setitem__("vulnerabilities", {}), "$.vulnerabilities"),
        (
            lambda d: d["vulnerabilities"][0]["scores"][0]["cvss_v3"].__setitem__("baseScore", "high"),
            "$.vulnerabilities[0].scores[0].cvss_v3.baseScore",
        ),
        (
            lambda d: d["vulnerabilities"][0]["product_status"]["known_affected"].__setitem__(
                0, "CSAFPID-9999"
            ),
            "$.vulnerabilities[0].product_status.known_affected[0]",
        ),
        (
            lambda d: d["product_tree"]["branches"][0]["branches"][0].__setitem__("branches", "x"),
            "$.product_tree.branches[0].branches[0].branches",
        ),
    ],
)
def test_problems_name_the_json_path(mutate, path: str) -> None:
    data = json.loads((FIXTURES / "icsa-22-088-04.json").read_text())
    mutate(data)
    try:
        _, problems = parse_advisory(data, "x.json")
    except IntakeError as exc:
        problems = list(exc.problems)
    assert path in [p.path for p in problems], [str(p) for p in problems]
    assert all(p.file == "x.json" and p.expected for p in problems)
