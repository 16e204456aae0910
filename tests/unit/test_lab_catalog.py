"""The committed lab catalog pins the sha256 of the reproducibly built vendor packages."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "inventories" / "lab" / "catalog.yml"
BUILD = ROOT / "lab" / "packages" / "build-packages.sh"
PACKAGES = {
    "nwc-scada-server",
    "nwc-historian",
    "nwc-hmi-runtime",
    "nwc-gateway",
    "nwc-eng-suite",
    "nwc-drill-agent",
}

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nwc-debs")
    subprocess.run([str(BUILD), str(out)], check=True, capture_output=True)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_catalog_sha256_equals_built_artifacts(built: Path) -> None:
    patches = yaml.safe_load(CATALOG.read_text())["patches"]
    assert {p["package"] for p in patches} == PACKAGES
    for patch in patches:
        artifact = built / patch["artifact"]
        assert artifact.is_file(), f"{patch['id']}: {patch['artifact']} was not built"
        assert _sha256(artifact) == patch["sha256"], f"{patch['id']}: sha256 of {artifact.name} changed"


def test_build_is_reproducible(built: Path, tmp_path: Path) -> None:
    subprocess.run(
        [str(BUILD), str(tmp_path)],
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "TZ": "Pacific/Auckland"},
    )
    first = {p.name: _sha256(p) for p in built.glob("*.deb")}
    second = {p.name: _sha256(p) for p in tmp_path.glob("*.deb")}
    assert len(first) == 12
    assert first == second


def test_catalog_qualifications_match_the_lab_story() -> None:
    by_pkg = {p["package"]: p for p in yaml.safe_load(CATALOG.read_text())["patches"]}
    assert by_pkg["nwc-gateway"]["qualification"] == "qualified"  # the demo's breaking patch
    assert by_pkg["nwc-eng-suite"]["qualification"] == "not_tested"
    assert by_pkg["nwc-drill-agent"]["qualification"] == "qualified"
    for patch in by_pkg.values():
        assert patch["target_version"] == "1.1.0"
        assert all(c.startswith("CVE-2026-9") for c in patch["fixes"])
