from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from otorchestrator.cli.plan import plan
from otorchestrator.exitcodes import ExitCode

LAB = Path(__file__).parents[2] / "inventories" / "lab"
ARGS = [
    "-i", str(LAB / "hosts.yml"),
    "--advisories", str(LAB / "advisories"),
    "--kev", str(LAB / "kev.json"),
    "--catalog", str(LAB / "catalog.yml"),
    "--exemptions", str(LAB / "exemptions.yml"),
    "--now", "2026-03-10T08:00:00+00:00",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _needs_inventory_reader() -> None:
    pytest.importorskip("otorchestrator.intake.inventory")


def test_plan_twice_is_byte_identical(tmp_path: Path) -> None:
    runner = CliRunner()
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    r1 = runner.invoke(plan, [*ARGS, "-o", str(first)])
    r2 = runner.invoke(plan, [*ARGS, "-o", str(second)])
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    data = json.loads(first.read_text())
    assert data["content_hash"].startswith("jcs-sha256:")
    assert {i["decision"] for i in data["items"]} >= {
        "out_of_cycle",
        "scheduled",
        "defer",
        "exempt",
        "blocked",
    }
    assert set(data["inputs"]) == {"advisories", "catalog", "exemptions", "inventory", "kev"}
    assert "exempt" in r1.output and "nw-gw-01" in r1.output


def test_yaml_by_suffix(tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    result = CliRunner().invoke(plan, [*ARGS, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("schema_version: 1")


def test_bad_catalog_exits_input_invalid_and_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("patches:\n  - {id: P, vendor: V, product: X, target_version: '1'}\n")
    args = [a if a != str(LAB / "catalog.yml") else str(bad) for a in ARGS]
    result = CliRunner().invoke(plan, [*args, "-o", str(tmp_path / "p.json")])
    assert result.exit_code == ExitCode.INPUT_INVALID
    assert "$.patches[0].fixed_version" in result.output
    assert not (tmp_path / "p.json").exists()


def test_broken_advisory_is_reported_not_fatal(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    out = tmp_path / "p.json"
    result = CliRunner().invoke(plan, [*ARGS, "--advisories", str(broken), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.output and "broken.json" in result.output
    assert json.loads(out.read_text())["import_problems"][0]["path"] == "$"


def test_naive_now_is_a_usage_error(tmp_path: Path) -> None:
    args = [*ARGS[:-1], "2026-03-10T08:00:00", "-o", str(tmp_path / "p.json")]
    assert CliRunner().invoke(plan, args).exit_code == 2


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "sites" / "lab"
    shutil.copytree(LAB, site)
    return site


def _site_args(root: str, inventory: str) -> list[str]:
    return [
        "-i", inventory,
        "--advisories", f"{root}advisories",
        "--kev", f"{root}kev.json",
        "--catalog", f"{root}catalog.yml",
        "--exemptions", f"{root}exemptions.yml",
        "--now", "2026-03-10T08:00:00+00:00",
    ]  # fmt: skip


def test_plan_is_byte_identical_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same files, same --now: the same bytes, whether the paths are typed relative or absolute, and
    from whichever directory (also one without the repository's ansible.cfg)."""
    site = _site(tmp_path)
    runs = [
        (site, _site_args("", "."), tmp_path / "in-site.json"),
        (tmp_path, _site_args("sites/lab/", "sites/lab"), tmp_path / "relative.json"),
        (tmp_path / "sites", _site_args(f"{site}/", str(site)), tmp_path / "absolute.json"),
        (LAB.parents[1], _site_args(f"{site}/", str(site)), tmp_path / "repo-cwd.json"),
    ]
    for cwd, args, out in runs:
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(plan, [*args, "-o", str(out)])
        assert result.exit_code == 0, (cwd, result.output)
    texts = {out.name: out.read_bytes() for _, _, out in runs}
    assert len(set(texts.values())) == 1, list(texts)
    data = json.loads(texts["relative.json"])
    sources = {p["source"] for i in data["items"] for p in i["explanation"] if p["name"] == "CVE"}
    assert sources and all(str(tmp_path) not in s and "sites/" not in s for s in sources)
    assert any("(nwc-sa-2026-0" in s and s.endswith(".json)") for s in sources)


def test_plan_help_says_now_pins_the_plan() -> None:
    result = CliRunner().invoke(plan, ["--help"], terminal_width=200)
    assert "--now" in result.output and "byte-identical" in result.output


def test_summary_is_not_cut_at_80_columns(tmp_path: Path) -> None:
    result = CliRunner().invoke(plan, [*ARGS, "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) > 100
    data = json.loads((tmp_path / "p.json").read_text())
    first = data["items"][0]
    words = " ".join(first["reasons"][0].split()[:6])  # the start of a reason, unfolded
    assert words in result.output


def test_bad_kev_entry_is_skipped_and_reported(tmp_path: Path) -> None:
    kev = json.loads((LAB / "kev.json").read_text())
    kev["vulnerabilities"] = [*kev["vulnerabilities"], None, {"cveID": 12}]
    bad = tmp_path / "kev.json"
    bad.write_text(json.dumps(kev))
    args = [a if a != str(LAB / "kev.json") else str(bad) for a in ARGS]
    out = tmp_path / "p.json"
    result = CliRunner().invoke(plan, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "KEV: 2 bad entr(ies) skipped" in result.output
    n = len(kev["vulnerabilities"])
    problems = json.loads(out.read_text())["import_problems"]
    kev_problems = [p for p in problems if p["file"] == "kev.json"]
    paths = [p["path"] for p in kev_problems]
    assert paths == [f"$.vulnerabilities[{n - 2}]", f"$.vulnerabilities[{n - 1}].cveID"]
    assert "an object" in kev_problems[0]["expected"]
    assert any(i["in_kev"] for i in json.loads(out.read_text())["items"])


def test_json_summary_is_the_plan_in_numbers(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(plan, [*ARGS, "-o", str(out), "--json", "--top", "2"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    written = json.loads(out.read_text())
    assert body["content_hash"] == written["content_hash"] and body["plan"] == str(out)
    assert body["items"] == len(written["items"]) and sum(body["decisions"].values()) == body["items"]
    assert [t["asset"] for t in body["top"]] == [i["asset"] for i in written["items"][:2]]
    assert body["advisories"]["read"] >= 1
