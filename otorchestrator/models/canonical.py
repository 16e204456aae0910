"""Canonical JSON behind every content hash and the audit chain: RFC 8785 (JCS), with the older form kept.

`jcs_bytes` writes RFC 8785 text: object members sorted by the UTF-16 code units of their names, numbers as
ECMAScript writes them (`7.0` -> `7`, `1e-05` -> `0.00001`, `1e21` -> `1e+21`), strings with only `"`, `\\`
and the controls below U+0020 escaped, no whitespace, UTF-8. It refuses what RFC 8785 cannot represent
(NaN, infinity, integers beyond +-(2**53 - 1), lone surrogates, non-string member names).

A hash names its form: `jcs-sha256:<hex>` (RFC 8785, current) or `sha256:<hex>` (the older
`json.dumps(sort_keys=True)` text, which plans, wave plans and audit records written before the change carry).
`hash_like(data, recorded)` recomputes a hash in the form `recorded` uses, so older files still verify.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

JCS_PREFIX = "jcs-sha256:"
LEGACY_PREFIX = "sha256:"
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalJSONError(ValueError):
    """The value has no RFC 8785 form (NaN, an integer beyond 2**53, a lone surrogate, ...)."""


# -- the reference writer (pure Python) --------------------------------------------------------------


def es_number(value: float) -> str:
    """A finite double as ECMAScript's Number.prototype.toString writes it (RFC 8785 section 3.2.2.3)."""
    if math.isnan(value) or math.isinf(value):
        raise CanonicalJSONError(f"{value!r} has no JSON form (RFC 8785 allows finite numbers only)")
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")  # repr: the shortest digits that round-trip
    whole, _, fraction = mantissa.partition(".")
    shift = int(exponent) if exponent else 0
    if whole == "0":
        significant = fraction.lstrip("0")
        point = shift - (len(fraction) - len(significant))  # value = 0.<digits> * 10**point
    else:
        significant = whole + fraction
        point = len(whole) + shift
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exp = point - 1
    exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
    head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
    return sign + head + "e" + exp_text


_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalJSONError(f"integer {value} is beyond +-(2**53 - 1): no exact RFC 8785 form")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(es_number(value))
    elif isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise CanonicalJSONError(f"member name {name!r} is not a string")
        out.append("{")
        for index, name in enumerate(sorted(value, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(_encode_string(name))
            out.append(":")
            _write(value[name], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalJSONError(f"{type(value).__name__} has no JSON form (dump models with mode='json')")


def jcs_bytes(data: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 text of `data` (JSON values: dict, list/tuple, str, int, float, ...)."""
    out: list[str] = []
    _write(data, out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(f"a string holds a lone surrogate ({exc.object[exc.start]!r})") from exc


def jcs(data: Any) -> str:
    return jcs_bytes(data).decode("utf-8")


# -- the fast writer (orjson, then only the float tokens rewritten) -----------------------------------

# Where a float token may be: orjson writes every float with a fraction or a signed exponent ("7.0",
# "1e+16", "1.5e-7"), never an int so. Each pattern starts with a literal, so the search runs at C speed; the
# token around a hit is then read whole and kept only in value position outside a string (quote parity).
_FLOAT_HINTS = (re.compile(rb"\.[0-9]+(?=[,\]}e])"), re.compile(rb"e\+[0-9]"), re.compile(rb"e-[0-9]"))
_VALUE = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:e[-+][0-9]+)?(?=[,\]}])")
_SUPPLEMENTARY = re.compile(rb"[\xf0-\xf4]")  # the lead byte of a character beyond U+FFFF


def _float_tokens(out: bytes) -> list[tuple[int, int]]:
    """(start, end) of every float value token of compact JSON `out` (no backslash pairs in it)."""
    starts: dict[int, int] = {}
    for pattern in _FLOAT_HINTS:
        for hit in pattern.finditer(out):
            p = hit.start()
            lo = max(0, p - 32)
            j = max(out.rfind(b":", lo, p), out.rfind(b",", lo, p), out.rfind(b"[", lo, p))
            if j < 0:
                continue
            value = _VALUE.match(out, j + 1)
            if value is not None and value.end() > p:
                starts[value.start()] = value.end()
    tokens: list[tuple[int, int]] = []
    counted, quotes = 0, 0  # unescaped quotes in out[:counted]
    for start in sorted(starts):
        quotes += out.count(b'"', counted, start) - out.count(b'\\"', counted, start)
        counted = start
        if quotes % 2 == 0:  # not inside a string
            tokens.append((start, starts[start]))
    return tokens


def _fast_jcs(data: Any) -> bytes | None:
    """`jcs_bytes(data)` through orjson for data whose floats are all finite, or None where that is not
    provably the same text (the caller then runs the reference writer).

    orjson writes the same structure, member order and string escapes as RFC 8785 (checked character by
    character in the tests) except: member order where a name holds a character beyond U+FFFF (orjson sorts
    by code point, RFC 8785 by UTF-16 unit), float spelling (rewritten here token by token with `es_number`;
    orjson's float text reads back as the same double), integers beyond 2**53 (refused by
    OPT_STRICT_INTEGER: the reference writer refuses them too), NaN/infinity (written as null: ruled out by
    the caller) and what orjson refuses."""
    if not isinstance(data, (dict, list)):
        return None
    try:
        out = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if _SUPPLEMENTARY.search(out):
        return None
    # an escaped backslash becomes two NULs (orjson writes NUL as \\u0000, so none is in `out`): same
    # length, and every backslash-quote left is an escaped quote, as parsing left to right reads it
    masked = out.replace(b"\\\\", b"\x00\x00")
    pieces: list[bytes] = []
    done = 0
    for start, end in _float_tokens(masked):
        pieces.append(out[done:start])
        pieces.append(es_number(float(out[start:end])).encode())
        done = end
    if not pieces:
        return out
    pieces.append(out[done:])
    return b"".join(pieces)


def finite_jcs_bytes(data: Any) -> bytes:
    """`jcs_bytes(data)` for data whose floats are all finite (a plan's, a wave plan's: their float fields
    refuse NaN and infinity), through orjson where that writes the same text (a 10k-asset plan: ~0.2 s)."""
    fast = _fast_jcs(data)
    return fast if fast is not None else jcs_bytes(data)


# -- hashes ------------------------------------------------------------------------------------------


def legacy_canonical_json(data: Any) -> str:
    """The canonical text before RFC 8785 (`sha256:` hashes): `json.dumps` with sorted keys, compact."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def legacy_content_hash(data: Any) -> str:
    return LEGACY_PREFIX + hashlib.sha256(legacy_canonical_json(data).encode()).hexdigest()


def content_hash(data: Any) -> str:
    """`jcs-sha256:` + the SHA-256 of the RFC 8785 text: any JCS tool recomputes it."""
    return JCS_PREFIX + hashlib.sha256(jcs_bytes(data)).hexdigest()


def finite_content_hash(data: Any) -> str:
    """`content_hash(data)` for data whose floats are all finite, through the fast writer."""
    return JCS_PREFIX + hashlib.sha256(finite_jcs_bytes(data)).hexdigest()


def hash_version(recorded: str) -> str:
    """ "jcs" or "legacy": the form a recorded hash was computed in (an unknown prefix is "jcs", so it never
    matches by accident of an older, weaker reading)."""
    return "legacy" if recorded.startswith(LEGACY_PREFIX) else "jcs"


def hash_like(data: Any, recorded: str, *, finite: bool = False) -> str:
    """The hash of `data` in the form of `recorded` (so a plan sealed before RFC 8785 still verifies)."""
    if hash_version(recorded) == "legacy":
        return legacy_content_hash(data)
    return finite_content_hash(data) if finite else content_hash(data)
