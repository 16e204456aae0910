from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otorchestrator.planning.versions import SpecKind, compare, parse_spec, parse_version


def v(text: str):
    parsed = parse_version(text)
    assert parsed is not None, text
    return parsed


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("1.0.0", "1.1.0"),
        ("V8.80", "V8.83"),
        ("R1.01", "R4.31"),
        ("V7.5 SP1", "V7.5 SP2"),
        ("V7.5_SP2_Update_17", "V7.5 SP2 Update 18"),
        ("V7.5", "V7.5 SP1"),
        ("V16 Update 6", "V16 SP1"),
        ("2.0rc1", "2.0"),
        ("V4.94 SP1", "V4.94 SP1 HF 1"),
        ("1.122C", "1.290C"),
        ("9.90 SP3.5", "9.91"),
        ("1.0.0", "1.0.0-1"),
    ],
)
def test_order(low: str, high: str) -> None:
    assert v(low) < v(high)
    assert compare(v(high), v(low)) == 1


def test_trailing_zeros_and_prefix_are_equivalent() -> None:
    assert v("1.0") == v("1.0.0") == v("V1.0")
    assert compare(v("v2.1"), v("2.1.0")) == 0


@pytest.mark.parametrize(
    "text", ["", "all versions", "LNL-4420", "882300 Gemini 16 Slice", "2.2 2.2.0.1", "n/a"]
)
def test_not_versions(text: str) -> None:
    assert parse_version(text) is None


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        ("vers:all/*", ["0.1", "99"], []),
        ("All versions", ["1"], []),
        ("< V8.83", ["V8.82", "8.0"], ["V8.83", "9"]),
        ("<= 7.4.2", ["7.4.2", "7.4"], ["7.4.3"]),
        ("vers:all/<V2304.0", ["V2303.9"], ["V2304"]),
        ("vers:all/>=2.3<V3.0", ["2.3", "2.9.9"], ["2.2", "3.0"]),
        (">= V6.2 < V7.1", ["V6.2", "7.0"], ["6.1", "7.1"]),
        ("<V7.5_SP2_Update_18", ["V7.5 SP2 Update 17", "V7.5"], ["V7.5 SP2 Update 18", "V7.6"]),
        ("All versions < V4.94 SP1 HF 1", ["V4.94 SP1", "V4.94"], ["V4.94 SP1 HF 1", "V4.95"]),
        ("1.1 | 1.2 | 1.3", ["1.2", "1.3.0"], ["1.4", "1.1.1"]),
        (">= 1.122C | < 1.290C", ["1.200C"], ["1.100", "1.291"]),
        ("vers:generic/>=1.0.0|<1.1.0", ["1.0.0", "1.0.9"], ["0.9", "1.1.0"]),
        ("12.4.*", ["12.4", "12.4.7"], ["12.5", "12.3"]),
        ("prior to 3.1", ["3.0.9"], ["3.1"]),
        ("3.0 and prior", ["3.0", "2"], ["3.0.1"]),
        ("V3.0 to V3.4", ["V3.2"], ["V3.5", "V2.9"]),
        ("vers:generic/!=1.5|<2", ["1.4"], ["1.5", "2"]),
        ("vers:generic/<1|>=2|<3", ["0.5", "2.5"], ["1.5", "3"]),
        (">= R1.01 | <= R4.31 (Only affected by CVE-222-30997)", ["R2"], ["R5"]),
    ],
)
def test_spec_contains(spec: str, inside: list[str], outside: list[str]) -> None:
    parsed = parse_spec(spec)
    assert parsed.kind is not SpecKind.UNINTERPRETABLE, parsed.reason
    for text in inside:
        assert parsed.contains(v(text)) is True, (spec, text)
    for text in outside:
        assert parsed.contains(v(text)) is False, (spec, text)


@pytest.mark.parametrize(
    "text",
    ["All versions with OIS running on Debian 9 or earlier", "882300 Gemini 16 Slice", "<=with_the_first_5"],
)
def test_prose_is_uninterpretable_with_a_reason(text: str) -> None:
    spec = parse_spec(text)
    assert spec.kind is SpecKind.UNINTERPRETABLE
    assert spec.reason
    assert spec.contains(v("1.0")) is None


def test_no_version_means_all_with_reason() -> None:
    spec = parse_spec(None)
    assert spec.kind is SpecKind.ALL and "no version" in spec.reason


def test_upper_bound() -> None:
    bound = parse_spec("< V8.83").upper_bound()
    assert bound is not None and bound == v("8.83")


# --- properties -------------------------------------------------------------------------------------------

VERSION_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda prefix, nums, qual, n: f"{prefix}{'.'.join(map(str, nums))}{qual}{n}",
        st.sampled_from(["", "V", "v", "R", "Version "]),
        st.lists(st.integers(0, 30), min_size=1, max_size=4),
        st.sampled_from(["", " SP", "_SP", " Update ", " HF", "rc", "-", "a", " build "]),
        st.sampled_from(["", "1", "2", "18"]),
    ),
)
VERSIONS = VERSION_TEXT.map(parse_version).filter(lambda x: x is not None)


@given(st.text(max_size=80))
def test_parse_never_crashes(text: str) -> None:
    parse_version(text)
    spec = parse_spec(text)
    assert spec.kind in SpecKind
    probe = parse_version("1.0")
    assert probe is not None
    assert spec.contains(probe) in (True, False, None)


@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_preorder(a, b, c) -> None:
    assert a <= b or b <= a  # total
    assert a <= a  # reflexive
    if a <= b and b <= c:
        assert a <= c  # transitive


@given(VERSIONS, VERSIONS)
def test_lt_consistent_with_compare(a, b) -> None:
    assert (a < b) == (compare(a, b) < 0)
    assert (a == b) == (compare(a, b) == 0)
    assert compare(a, b) == -compare(b, a)


@given(VERSIONS)
def test_reparse_is_stable(a) -> None:
    again = parse_version(a.raw)
    assert again is not None and again == a
