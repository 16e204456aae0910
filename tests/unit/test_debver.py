"""Debian version order checked against dpkg itself (`dpkg --compare-versions`), on real versions.

The corpus: tests/fixtures/dpkg_versions.txt (every package version `dpkg-query -W` listed on the build
machine and in the lab image, 2026-12-02), the versions installed where the test runs, and edge cases.
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from otorchestrator.models.asset import InstalledProduct
from otorchestrator.models.catalog import Catalog, Patch, Qualification
from otorchestrator.planning.debver import compare_deb, deb_key, split_deb
from otorchestrator.planning.product_plan import _Patches
from otorchestrator.planning.versions import SpecKind, parse_deb, parse_spec, parse_version

DPKG = shutil.which("dpkg")
CORPUS = Path(__file__).parents[1] / "fixtures" / "dpkg_versions.txt"
EDGE = [
    "1.0", "1:1.0", "2.0", "1.0-1", "1.0-1+deb12u1", "1.0-1+deb12u2", "1.0-1~bpo12+1", "1.0~rc1", "1.0~rc1-1",
    "1.0~~", "1.0~", "1.0a", "1.0+", "1.0.0", "1.00", "1.0-0", "0:1.0", "1.0-1.1", "1.0-10", "1.0-9",
    "2:0.1", "10.0", "9.9", "1.2.3~beta2+dfsg-1", "1.2.3+dfsg-1", "1.2.3-1ubuntu1", "1.0-a", "1.0-A",
]  # fmt: skip


def dpkg_cmp(a: str, b: str) -> int:
    assert DPKG is not None
    for op, result in (("lt", -1), ("eq", 0)):
        if subprocess.run([DPKG, "--compare-versions", a, op, b], check=False).returncode == 0:
            return result
    return 1


def corpus() -> list[str]:
    versions = set(CORPUS.read_text().split())
    query = shutil.which("dpkg-query")
    if query:
        listed = subprocess.run(
            [query, "-W", "-f", "${Version}\n"], capture_output=True, text=True, check=False
        )
        versions.update(listed.stdout.split())
    return sorted(v for v in versions | set(EDGE) if split_deb(v) is not None)


@pytest.mark.skipif(DPKG is None, reason="dpkg not installed")
def test_order_matches_dpkg_on_real_versions() -> None:
    versions = corpus()
    assert len(versions) > 300
    ordered = sorted(versions, key=lambda v: deb_key(v))  # type: ignore[arg-type, return-value]
    rng = random.Random(14)
    pairs = list(itertools.pairwise(ordered))  # neighbours in our order: the hardest pairs
    pairs += [(rng.choice(versions), rng.choice(versions)) for _ in range(150)]
    pairs += [(a, b) for a in EDGE for b in EDGE[:8]]
    wrong = [
        (a, b, compare_deb(a, b), dpkg_cmp(a, b)) for a, b in pairs if compare_deb(a, b) != dpkg_cmp(a, b)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("2.0", "1:1.0"),  # the epoch wins
        ("1.0~rc1", "1.0"),  # ~ sorts before the end
        ("1.0", "1.0-1+deb12u1"),
        ("1.0-1+deb12u1", "1.0-1+deb12u2"),
        ("1.0-1~bpo12+1", "1.0-1"),
        ("1.0-9", "1.0-10"),
        ("1.0", "1.0a"),
        ("1.0a", "1.0+"),  # letters before other characters
    ],
)
def test_known_orders(low: str, high: str) -> None:
    assert compare_deb(low, high) == -1 and compare_deb(high, low) == 1
    low_v, high_v = parse_deb(low), parse_deb(high)
    assert low_v is not None and high_v is not None and low_v < high_v


def test_equal_spellings_and_refusals() -> None:
    assert compare_deb("1.0", "0:1.0") == 0 and compare_deb("1.0", "1.0-0") == 0
    for bad in ("", "a1.0", "x:1.0", "1.0-", "1.0-@"):
        assert split_deb(bad) is None
    with pytest.raises(ValueError, match="not a Debian version"):
        compare_deb("a1.0", "1.0")


def test_dpkg_versions_were_unparsed_generically() -> None:
    """The defect: `1.0-1+deb12u1` is no generic version at all, and `1:1.0` sorts below `2.0` there."""
    assert parse_version("1.0-1+deb12u1") is None
    assert parse_deb("1.0-1+deb12u1") is not None


def test_vers_deb_range_uses_dpkg_order() -> None:
    spec = parse_spec("vers:deb/>=1:1.0|<1:2.0-1+deb12u1")
    assert spec.kind is SpecKind.CONSTRAINTS and spec.scheme == "deb"
    inside = ["1:1.0", "1:2.0~rc1", "1:2.0-1"]
    outside = ["2.0", "1:2.0-1+deb12u1", "1:2.0-2", "0.9"]
    for text in inside:
        assert spec.contains(spec.parse(text)) is True, text  # type: ignore[arg-type]
    for text in outside:
        assert spec.contains(spec.parse(text)) is False, text  # type: ignore[arg-type]
    assert parse_spec("vers:deb/<=oops").kind is SpecKind.UNINTERPRETABLE


def test_catalog_patch_for_a_debian_package_compares_as_dpkg() -> None:
    """An installed 1:1.0 (epoch 1) is newer than a patch fixing 2.0: no patch is offered."""
    patch = Patch(
        id="P",
        vendor="V",
        product="Tool",
        package="tool",
        fixed_version="1.0-1+deb12u2",
        target_version="1.0-1+deb12u2",
        qualification=Qualification.QUALIFIED,
    )
    patches = _Patches.build(Catalog(patches=(patch,)))

    def offered(version: str) -> bool:
        installed = InstalledProduct(vendor="V", product="Tool", version=version, package="tool")
        return bool(patches.for_product(installed, parse_version(version)))

    assert offered("1.0-1+deb12u1")  # generically unparsed: no patch was offered at all
    assert offered("1.0-1")
    assert not offered("1.0-1+deb12u2")
    assert not offered("1:0.9")  # epoch 1 beats any epoch-0 version
