"""RFC 8785 canonical JSON: the RFC's published samples, the reference implementation on random data."""

from __future__ import annotations

import hashlib
import math
import struct

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from otorchestrator.models.canonical import (
    CanonicalJSONError,
    content_hash,
    es_number,
    finite_jcs_bytes,
    hash_like,
    jcs,
    jcs_bytes,
    legacy_content_hash,
)

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_rfc_8785_appendix_b_numbers(bits: str, text: str) -> None:
    value = _double(bits)
    assert es_number(value) == text
    assert jcs([value]) == f"[{text}]"
    assert finite_jcs_bytes([value]) == f"[{text}]".encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_have_no_form(bits: str) -> None:
    with pytest.raises(CanonicalJSONError, match="finite numbers only"):
        jcs({"x": _double(bits)})


def test_the_issue_examples() -> None:
    assert jcs({"a": 7.0, "b": 1e-05, "c": 1e21, "d": 7}) == '{"a":7,"b":0.00001,"c":1e+21,"d":7}'


def test_rfc_8785_section_3_2_2_example() -> None:
    data = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert jcs(data) == expected
    assert finite_jcs_bytes(data) == expected.encode()


def test_rfc_8785_section_3_2_3_sorting_by_utf16_units() -> None:
    names = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    data = {name: index for index, name in enumerate(names)}
    order = list(orjson.loads(jcs_bytes(data)))
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert finite_jcs_bytes(data) == jcs_bytes(data)  # orjson sorts by code point: the fast path yields


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"big": 2**53}, "2\\*\\*53"),
        ({"lone": "\ud800"}, "lone surrogate"),
        ({1: "x"}, "not a string"),
        ({"when": object()}, "no JSON form"),
    ],
)
def test_values_without_a_canonical_form_are_refused(data: object, match: str) -> None:
    with pytest.raises(CanonicalJSONError, match=match):
        jcs(data)
    with pytest.raises(CanonicalJSONError, match=match):
        finite_jcs_bytes(data)


def test_every_character_is_escaped_as_the_reference_does() -> None:
    # the fast path relies on orjson escaping each character exactly as RFC 8785 does
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert orjson.dumps(text) == jcs_bytes(text) == rfc8785.dumps(text)


def test_float_tokens_inside_strings_are_left_alone() -> None:
    data = {"s": "x:7.0,1e-05]", "n": [7.0, 1e-05], "k": {"1.5": 2.50}}
    assert finite_jcs_bytes(data) == b'{"k":{"1.5":2.5},"n":[7,0.00001],"s":"x:7.0,1e-05]"}'
    escaped = {"s": 'say "7.0,"', "n": 7.0}  # an escaped quote: the fast path yields to the reference
    assert finite_jcs_bytes(escaped) == jcs_bytes(escaped) == rfc8785.dumps(escaped)
    for text in ("a\\", 'a\\"', 'a\\\\\\",1.0,', 'x\\",7.0,"y', "\x00:1.0,"):
        data = {"s": text, "n": [1.0, 2.50], "t": text}
        assert finite_jcs_bytes(data) == jcs_bytes(data) == rfc8785.dumps(data)


def test_hash_forms() -> None:
    data = {"v": 7.0}
    assert content_hash(data) == "jcs-sha256:" + hashlib.sha256(b'{"v":7}').hexdigest()
    assert legacy_content_hash(data) == "sha256:" + hashlib.sha256(b'{"v":7.0}').hexdigest()
    assert hash_like(data, legacy_content_hash(data)) == legacy_content_hash(data)
    assert hash_like(data, content_hash(data), finite=True) == content_hash(data)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=6), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200)
@given(_json)
def test_equals_the_reference_implementation(data: object) -> None:
    expected = rfc8785.dumps(data)
    assert jcs_bytes(data) == expected
    assert finite_jcs_bytes(data) == expected


@settings(max_examples=400)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_equal_the_reference_and_read_back(value: float) -> None:
    text = es_number(value)
    assert text.encode() == rfc8785.dumps(value)
    assert float(text) == value or (value == 0 and float(text) == 0)
    assert not math.isnan(float(text))
