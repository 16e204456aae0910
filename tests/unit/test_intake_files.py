from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from otorchestrator.intake.approvals import load_approvals
from otorchestrator.intake.catalog import load_catalog
from otorchestrator.intake.errors import IntakeError
from otorchestrator.intake.exemptions import load_exemptions
from otorchestrator.intake.kev import load_kev
from otorchestrator.models.catalog import Qualification
from otorchestrator.models.plan import Approval

ROOT = Path(__file__).parents[2]
SHA = "a" * 64


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_lab_files_load_cleanly() -> None:
    catalog, problems = load_catalog(ROOT / "inventories/lab/catalog.yml")
    assert problems == () and len(catalog.patches) == 6
    exemptions, problems = load_exemptions(ROOT / "inventories/lab/exemptions.yml")
    assert problems == () and {e.id for e in exemptions} == {"EX-2026-001", "EX-2025-014"}
    kev, problems = load_kev(ROOT / "inventories/lab/kev.json")
    assert problems == () and "CVE-2026-90401" in kev.by_cve()


def test_catalog_bad_patch_is_reported_with_path_and_the_rest_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yml",
        f"""
patches:
  - {{id: P1, vendor: V, product: X, fixed_version: 1.1, target_version: 1.1, sha256: {SHA},
     qualification: partially qualified}}
  - {{id: P2, vendor: V, product: Y, fixed_version: "2", target_version: "2", sha256: nothex}}
  - {{id: P1, vendor: V, product: Z, fixed_version: "2", target_version: "2"}}
  - {{id: P3, vendor: V, product: W, target_version: "2", expected_duration_minutes: 0}}
""",
    )
    catalog, problems = load_catalog(path)
    assert [p.id for p in catalog.patches] == ["P1"]
    assert catalog.patches[0].qualification is Qualification.PARTIALLY_QUALIFIED
    assert catalog.patches[0].fixed_version == "1.1"
    paths = {p.path for p in problems}
    assert {
        "$.patches[1].sha256",
        "$.patches[2].id",
        "$.patches[3].fixed_version",
        "$.patches[3].expected_duration_minutes",
    } <= paths
    assert all(p.file == str(path) for p in problems)


def test_unreadable_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yml", "patches:\n  - id: [unclosed\n")
    with pytest.raises(IntakeError) as info:
        load_catalog(path)
    assert f"{path}:3:1:" in str(info.value) and "expected valid YAML" in str(info.value)  # file:line:col


def test_exemption_needs_scope_controls_and_offset(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ex.yml",
        """
exemptions:
  - {id: E1, asset: h1, cve: CVE-1, reason: r, compensating_controls: [c], approver: a,
     expires: "2026-01-01T00:00:00+00:00"}
  - {id: E2, reason: r, compensating_controls: [c], approver: a, expires: "2026-01-01T00:00:00+00:00"}
  - {id: E3, assets: [h], patches: [P], reason: r, compensating_controls: [], approver: a,
     expires: "2026-01-01T00:00:00+00:00"}
  - {id: E4, assets: [h], patches: [P], reason: r, compensating_controls: [c], approver: a,
     expires: "2026-01-01T00:00:00"}
""",
    )
    exemptions, problems = load_exemptions(path)
    assert [e.id for e in exemptions] == ["E1"]
    assert exemptions[0].assets == ("h1",) and exemptions[0].cves == ("CVE-1",)
    assert {p.path for p in problems} >= {
        "$.exemptions[1]",
        "$.exemptions[2].compensating_controls",
        "$.exemptions[3]",
    }


def test_approvals(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ap.yml",
        """
approvals:
  - {kind: unqualified_patch, subject: P1, approved_by: x, reason: bench tested,
     at: "2026-03-01T10:00:00+00:00"}
  - {kind: nonsense, subject: P1, approved_by: x, reason: r, at: "2026-03-01T10:00:00+00:00"}
  - {kind: asset, subject: h1, approved_by: x, reason: r}
""",
    )
    approvals, problems = load_approvals(path)
    assert [a.subject for a in approvals] == ["P1"]
    assert {p.path for p in problems} == {"$.approvals[1].kind", "$.approvals[2].at"}


def test_kev_bad_entry_is_skipped(tmp_path: Path) -> None:
    data = {"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-2021-1"}, {"cveID": None}, "x"]}
    kev, problems = load_kev(write(tmp_path, "kev.json", json.dumps(data)))
    assert [e.cve for e in kev.entries] == ["CVE-2021-1"]
    assert [p.path for p in problems] == ["$.vulnerabilities[1].cveID", "$.vulnerabilities[2]"]
    assert problems[1].expected.startswith("an object") and problems[1].found == "str 'x'"


@pytest.mark.external_data
def test_real_kev_catalog() -> None:
    path = ROOT.parent / "shared" / "data" / "kev" / "known_exploited_vulnerabilities.json"
    if not path.exists():
        pytest.skip(f"KEV catalog not present at {path}")
    kev, problems = load_kev(path)
    assert problems == () and len(kev.entries) >= 1400


@pytest.mark.parametrize("field", ["approved_by", "reason"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_approval_needs_a_named_approver_and_reason(field: str, blank: str) -> None:
    values = {"kind": "unqualified_patch", "subject": "P1", "approved_by": "k.ng", "reason": "bench tested"}
    with pytest.raises(ValidationError, match=field):
        Approval.model_validate({**values, field: blank, "at": "2026-03-01T10:00:00+00:00"})


def test_blank_approver_does_not_unblock_a_patch(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ap.yml",
        """
approvals:
  - {kind: unqualified_patch, subject: P1, approved_by: "", reason: tested,
     at: "2026-03-01T10:00:00+00:00"}
  - {kind: unqualified_patch, subject: P2, approved_by: "  ", reason: " ", at: "2026-03-01T10:00:00+00:00"}
""",
    )
    approvals, problems = load_approvals(path)
    assert approvals == ()
    assert [p.path for p in problems] == [
        "$.approvals[0].approved_by",
        "$.approvals[1].approved_by",
        "$.approvals[1].reason",
    ]


def test_approval_reports_every_bad_field_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ap.yml",
        """
approvals:
  - {kind: nonsense, subject: P1, approved_by: "", reason: r, at: "2026-03-01T10:00:00"}
""",
    )
    approvals, problems = load_approvals(path)
    assert approvals == ()
    assert sorted(p.path for p in problems) == [
        "$.approvals[0].approved_by",
        "$.approvals[0].at",
        "$.approvals[0].kind",
    ]


def test_exemption_needs_a_named_approver_and_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ex.yml",
        """
exemptions:
  - {id: E1, asset: h1, cve: CVE-1, reason: r, compensating_controls: [c], approver: "  ",
     expires: "2026-01-01T00:00:00+00:00"}
  - {id: E2, asset: h1, cve: CVE-1, reason: " ", compensating_controls: [c], approver: a,
     expires: "2026-01-01T00:00:00+00:00"}
  - {id: E3, asset: h1, cve: CVE-1, reason: r, compensating_controls: [c], approver: " ",
     expires: "2026-01-01T00:00:00"}
""",
    )
    exemptions, problems = load_exemptions(path)
    assert exemptions == ()
    assert {p.path for p in problems} == {
        "$.exemptions[0].approver",
        "$.exemptions[1].reason",
        "$.exemptions[2]",
        "$.exemptions[2].approver",
    }
