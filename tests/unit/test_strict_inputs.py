"""Strict inputs: nothing is accepted silently. Unknown hosts, groups and patches in exemptions and
approvals, an advisories input with nothing usable, a KEV file or catalog of the wrong shape, and YAML
syntax errors in an inventory are errors naming file, line and field (with a did-you-mean)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from otorchestrator.cli.plan import plan
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.intake.problems import InventoryError

LAB = Path(__file__).parents[2] / "inventories" / "lab"
ARGS = [
    "-i", str(LAB / "hosts.yml"),
    "--advisories", str(LAB / "advisories"),
    "--kev", str(LAB / "kev.json"),
    "--catalog", str(LAB / "catalog.yml"),
    "--now", "2026-03-10T08:00:00+00:00",
]  # fmt: skip


def _run(tmp_path: Path, *extra: str, args: list[str] = ARGS) -> tuple[int, str, Path]:
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(plan, [*args, *extra, "-o", str(out)])
    return result.exit_code, " ".join(result.output.split()), out


def _swap(old: str, new: Path) -> list[str]:
    return [str(new) if a == old else a for a in ARGS]


EXEMPTION = """exemptions:
  - id: EX-1
    assets: [nw-sis-01, nw-hmi-0l]
    patches: [NWC-P-2026-0103]
    reason: certified configuration
    compensating_controls: [zone firewall]
    approver: J. Ortega
    expires: "2027-06-30T00:00:00+00:00"
  - id: EX-2
    group: scada_serverz
    patch: NWC-P-2026-O103
    reason: certified configuration
    compensating_controls: [zone firewall]
    approver: J. Ortega
    expires: "2027-06-30T00:00:00+00:00"
"""


def test_unknown_host_group_patch_in_exemptions(tmp_path: Path) -> None:
    path = tmp_path / "exemptions.yml"
    path.write_text(EXEMPTION)
    code, text, out = _run(tmp_path, "--exemptions", str(path))
    assert code == ExitCode.INPUT_INVALID and not out.exists(), text
    assert f"{path}:3: $.exemptions[0].assets[1]: expected a host of the inventory" in text
    assert "'nw-hmi-0l', which does not exist; did you mean 'nw-hmi-01'?" in text
    assert f"{path}:10: $.exemptions[1].group: expected a group of the inventory" in text
    assert f"{path}:11: $.exemptions[1].patch: expected a patch of the catalog" in text
    assert "did you mean 'NWC-P-2026-0103'?" in text


def test_unknown_subjects_in_approvals(tmp_path: Path) -> None:
    path = tmp_path / "approvals.yml"
    path.write_text(
        "approvals:\n"
        "  - {kind: asset, subject: nw-scada-c, approved_by: carol, reason: CAB-1,\n"
        "     at: '2026-03-01T08:00:00+00:00'}\n"
        "  - kind: unqualified_patch\n"
        "    subject: NWC-P-2026-9999\n"
        "    approved_by: carol\n"
        "    reason: CAB-2\n"
        "    at: '2026-03-01T08:00:00+00:00'\n"
    )
    code, text, _ = _run(tmp_path, "--approvals", str(path))
    assert code == ExitCode.INPUT_INVALID, text
    assert f"{path}:2: $.approvals[0].subject: expected a host of the inventory" in text
    assert "did you mean 'nw-scada-a'?" in text
    assert f"{path}:5: $.approvals[1].subject: expected a patch of the catalog" in text


def test_patch_at_host_subject_checks_both(tmp_path: Path) -> None:
    path = tmp_path / "approvals.yml"
    ok = (
        "{kind: unqualified_patch, subject: NWC-P-2026-0103@nw-sis-01, approved_by: c, reason: r,"
        " at: '2026-03-01T08:00:00+00:00'}"
    )
    bad = ok.replace("@nw-sis-01", "@nw-sis-1")
    path.write_text(f"approvals:\n  - {ok}\n  - {bad}\n")
    code, text, _ = _run(tmp_path, "--approvals", str(path))
    assert code == ExitCode.INPUT_INVALID and "$.approvals[0]" not in text, text
    assert f"{path}:3: $.approvals[1].subject: expected a host of the inventory" in text
    assert "did you mean 'nw-sis-01'?" in text


def test_known_names_still_pass(tmp_path: Path) -> None:
    code, text, _ = _run(tmp_path, "--exemptions", str(LAB / "exemptions.yml"))
    assert code == 0 and "does not exist" not in text, text


@pytest.mark.parametrize("content", [None, "not a csaf document", '{"document": {}}'])
def test_empty_or_all_rejected_advisories_are_an_error(tmp_path: Path, content: str | None) -> None:
    folder = tmp_path / "csaf"
    folder.mkdir()
    if content is not None:
        (folder / "a.json").write_text(content)
    args = _swap(str(LAB / "advisories"), folder)
    code, text, out = _run(tmp_path, args=args)
    assert code == ExitCode.INPUT_INVALID and not out.exists(), text
    assert "expected at least one usable CSAF advisory (pass --allow-empty" in text
    code, text, out = _run(tmp_path, "--allow-empty", args=args)
    assert code == 0 and out.exists(), text


def test_catalog_given_as_kev_is_refused(tmp_path: Path) -> None:
    code, text, out = _run(tmp_path, args=_swap(str(LAB / "kev.json"), LAB / "catalog.yml"))
    assert code == ExitCode.INPUT_INVALID and not out.exists(), text
    assert "$.vulnerabilities: expected a top-level `vulnerabilities:` list (is this the right file?)" in text
    assert "found a mapping with the keys" in text and "patches" in text


def test_catalog_without_its_top_level_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("patchez:\n  - {id: P}\n")
    code, text, _ = _run(tmp_path, args=_swap(str(LAB / "catalog.yml"), bad))
    assert (
        code == ExitCode.INPUT_INVALID
        and "$.patches: expected a top-level `patches:` list" in text
        and "patchez" in text
    )


def test_exemptions_yaml_syntax_error_is_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "exemptions.yml"
    path.write_text("exemptions:\n  - id: EX-1\n    assets: [a, b\n")
    code, text, _ = _run(tmp_path, "--exemptions", str(path))
    assert code == ExitCode.INPUT_INVALID and f"{path}:4:1: $: expected valid YAML" in text, text


def test_inventory_yaml_syntax_error_without_ansible_noise(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    shutil.copytree(LAB, inv, ignore=shutil.ignore_patterns("advisories"))
    hosts = inv / "hosts.yml"
    lines = hosts.read_text().splitlines()
    lines[19] = lines[19].replace("ot_purdue_level: 2", "ot_purdue_level: [2")
    hosts.write_text("\n".join(lines) + "\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(hosts)
    text = str(err.value)
    assert f"{hosts}:21:" in text and "YAML syntax error" in text
    assert "host pattern" not in text and "plugin" not in text
    assert len(err.value.problems) == 1


def test_group_vars_syntax_error_is_found(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    shutil.copytree(LAB, inv, ignore=shutil.ignore_patterns("advisories"))
    bad = inv / "group_vars" / "broken.yml"
    bad.write_text("ot_site: {a: 1\n")
    with pytest.raises(InventoryError, match=r"broken.yml:2:1: YAML syntax error"):
        load_inventory(inv / "hosts.yml")
