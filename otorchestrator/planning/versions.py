"""Tolerant version parsing and comparison for how real advisories write versions.

`parse_version` reads `1.2.3`, `V8.83`, `R4.31`, `V7.5_SP2_Update_18`, `V16 Update 6`, `V2.0 HF1`, `1.122C`,
`2.0rc1`; it returns None when the text is not a version (prose, model numbers with words).
`parse_spec` reads what an advisory says is affected: `vers:` ranges (univers semantics), `<=V9.0`,
`>= V6.2 < V7.1`, `1.1 | 1.2`, `12.4.*`, "all versions", "All versions < V2.0 HF1", "prior to 3.1", and
records anything else as uninterpretable, with the reason. A trailing `x`/`*` is a wildcard, not a letter
suffix: `>= 6.x` is `>= 6`, `<= 10.x` is `< 11`, `R7x` is every 7.*, `5.16.x` every 5.16.*.
`vers:deb/...` ranges are Debian versions, compared as dpkg does (`parse_deb`, planning/debver.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any

from otorchestrator.planning.debver import deb_key

# qualifiers that come after a release (higher rank sorts later at the same number)
POST_QUALIFIERS: dict[str, int] = {
    "sp": 4,
    "servicepack": 4,
    "update": 3,
    "upd": 3,
    "u": 3,
    "hf": 2,
    "hotfix": 2,
    "fix": 2,
    "patch": 1,
    "p": 1,
    "build": 0,
    "b": 0,
    "rev": 0,
    "r": 0,
    "revision": 0,
}
PRE_QUALIFIERS: dict[str, int] = {"dev": 0, "alpha": 1, "beta": 2, "pre": 3, "preview": 3, "rc": 4}
PREFIX_WORDS = frozenset({"v", "r", "version", "ver", "fw", "firmware", "release", "rel", "rev", "revision"})

_TOKEN = re.compile(r"\d+|[a-z]+")
_RELEASE = re.compile(r"\d+(?:\.\d+)*")
_SPACED_NUMBERS = re.compile(r"\d\s+\d")

Key = tuple[Any, ...]  # generic: (release, suffix); Debian: debver.DebKey. Never compared across schemes


@dataclass(frozen=True, order=True)
class Version:
    """A comparable version. Equality and order use `key` only; `raw` keeps the text as written."""

    key: Key
    raw: str = field(compare=False)

    def __str__(self) -> str:
        return self.raw


def _release(numbers: list[int]) -> tuple[int, ...]:
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """The version in `text`, or None when it is not one (no digits, or words that are not qualifiers)."""
    raw = text.strip()
    low = raw.lower().replace("service pack", "sp")
    if _SPACED_NUMBERS.search(low):  # "2.2 2.2.0.1" is a list, not one version
        return None
    tokens = _TOKEN.findall(low)
    # leading prefix words (V, R, Version, FW ...) before the first number
    start = 0
    while start < len(tokens) and not tokens[start].isdigit():
        if tokens[start] not in PREFIX_WORDS:
            return None
        start += 1
    if start == len(tokens):
        return None
    # the release: the first dotted run of numbers
    first_digit = re.search(r"\d", low)
    assert first_digit is not None
    release_match = _RELEASE.match(low, first_digit.start())
    assert release_match is not None
    release = [int(n) for n in release_match.group().split(".")]
    rest = _TOKEN.findall(low[release_match.end() :])
    suffix: list[tuple[int, int, int, str]] = []
    index = 0
    while index < len(rest):
        token = rest[index]
        number = 0
        if token.isdigit():
            suffix.append((1, 0, int(token), ""))
            index += 1
            continue
        if index + 1 < len(rest) and rest[index + 1].isdigit():
            number = int(rest[index + 1])
            index += 1
        index += 1
        if token in POST_QUALIFIERS:
            suffix.append((1, POST_QUALIFIERS[token], number, ""))
        elif token in PRE_QUALIFIERS:
            suffix.append((-1, PRE_QUALIFIERS[token], number, ""))
        elif len(token) <= 2:  # a letter suffix such as 1.122C or 2.1a
            suffix.append((1, -1, number, token))
        else:
            return None
    suffix.append((0, 0, 0, ""))
    return Version(key=(_release(release), tuple(suffix)), raw=raw)


@lru_cache(maxsize=65536)
def parse_deb(text: str) -> Version | None:
    """A Debian version ordered as dpkg orders it (compare only with other `parse_deb` versions), or None."""
    key = deb_key(text)
    return None if key is None else Version(key=key, raw=text.strip())


_WILDCARD = re.compile(r"^(.*?\d)(?:\.?[x*])(?:\.[x*])*$", re.I)


def parse_wildcard(text: str) -> tuple[Version, Version] | None:
    """`6.x` -> (6, 7); `5.16.x` / `5.16.*` -> (5.16, 5.17); `R7x` -> (R7, 8); `12.2.x.x` -> (12.2, 12.3):
    every version from the first up to (not including) the second. None when not a wildcard."""
    found = _WILDCARD.match(text.strip())
    if not found:
        return None
    base = parse_version(found.group(1))
    if base is None or base.key[1] != ((0, 0, 0, ""),):
        return None
    numbers = [int(n) for n in _RELEASE.findall(found.group(1).lower())[0].split(".")]
    numbers[-1] += 1
    upper = parse_version(".".join(str(n) for n in numbers))
    assert upper is not None
    return base, upper


def compare(a: Version, b: Version) -> int:
    return (a.key > b.key) - (a.key < b.key)


# --- specifications ---------------------------------------------------------------------------------------


class SpecKind(StrEnum):
    ALL = "all"
    CONSTRAINTS = "constraints"
    UNINTERPRETABLE = "uninterpretable"


OPERATORS = ("<=", ">=", "!=", "<", ">", "=")


@dataclass(frozen=True)
class Constraint:
    op: str
    version: Version

    def __str__(self) -> str:
        return f"{self.op}{self.version.raw}"


@dataclass(frozen=True)
class Spec:
    """What an advisory says is affected. `contains` is None when the text could not be interpreted."""

    kind: SpecKind
    raw: str
    constraints: tuple[Constraint, ...] = ()
    reason: str = ""  # why uninterpretable, or what was assumed
    scheme: str = "generic"  # "deb": constraints (and the installed version) are Debian versions

    def parse(self, text: str) -> Version | None:
        """An installed version as this spec's scheme reads it."""
        return parse_deb(text) if self.scheme == "deb" else parse_version(text)

    def contains(self, version: Version) -> bool | None:
        if self.kind is SpecKind.ALL:
            return True
        if self.kind is SpecKind.UNINTERPRETABLE:
            return None
        return _contains(self.constraints, self._ranges, version)

    @cached_property
    def _ranges(self) -> tuple[Constraint, ...]:
        """The range constraints sorted by version, once per spec (asked for every installed version)."""
        return _ranges(self.constraints)

    def describe(self) -> str:
        return self._described

    @cached_property
    def _described(self) -> str:
        if self.kind is SpecKind.ALL:
            return "all versions"
        if self.kind is SpecKind.UNINTERPRETABLE:
            return f"uninterpretable ({self.reason})"
        return " | ".join(str(c) for c in self.constraints)

    def upper_bound(self) -> Version | None:
        """The lowest version above every affected range (the first fixed version), when there is one."""
        if self.kind is not SpecKind.CONSTRAINTS or not self.constraints:
            return None
        last = max(self.constraints, key=lambda c: c.version)
        return last.version if last.op == "<" else None


def vers_contains(constraints: tuple[Constraint, ...], version: Version) -> bool:
    """The univers `vers:` containment algorithm over constraints sorted by version."""
    return _contains(constraints, _ranges(constraints), version)


def _ranges(constraints: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
    return tuple(sorted((c for c in constraints if c.op not in ("=", "!=")), key=lambda c: c.version))


def _contains(constraints: tuple[Constraint, ...], ranges: tuple[Constraint, ...], version: Version) -> bool:
    """`vers_contains`, with `ranges` = `_ranges(constraints)` given."""
    for c in constraints:
        if c.version == version:
            if c.op in ("=", "<=", ">="):
                return True
            if c.op == "!=":
                return False
    if not ranges:
        return False
    if len(ranges) == 1:
        return _single(ranges[0], version)
    for i in range(len(ranges) - 1):
        cur, nxt = ranges[i], ranges[i + 1]
        if i == 0 and cur.op in ("<", "<=") and version < cur.version:
            return True
        if i == len(ranges) - 2 and nxt.op in (">", ">=") and version > nxt.version:
            return True
        if cur.op in (">", ">=") and nxt.op in ("<", "<=") and cur.version < version < nxt.version:
            return True
    return False


def _single(c: Constraint, version: Version) -> bool:
    if c.op == "<":
        return version < c.version
    if c.op == "<=":
        return version <= c.version
    if c.op == ">":
        return version > c.version
    return version >= c.version


_PAREN = re.compile(r"\([^()]*\)")
_ALL = re.compile(
    r"^(?:(?:all(?:\s+(?:(?:bios|firmware|software)\s+)?(?:versions?|releases?|firmware(?:\s+versions?)?))?|any)\b|\*(?!\S))\s*",
    re.I,
)
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"^(?:versions?\s+)?(?:prior\s+to|before|older\s+than|earlier\s+than|up\s+to\s+but\s+excl\w*)\s+",
            re.I,
        ),
        "<",
    ),
    (re.compile(r"^(?:versions?\s+)?(?:up\s+to(?:\s+and\s+including)?|through)\s+", re.I), "<="),
    (re.compile(r"^(?:versions?\s+)?(?:from|since|starting\s+(?:with|from)|after)\s+", re.I), ">="),
)
_TRAILING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\s*(?:and|or)\s+(?:prior|earlier|older|before|below|lower)(?:\s+versions?)?$", re.I), "<="),
    (re.compile(r"\s*(?:and|or)\s+(?:later|newer|above|higher|after)(?:\s+versions?)?$", re.I), ">="),
)
_RANGE = re.compile(r"^(.+?)\s+(?:to|through|until|-|\u2013)\s+(.+)$", re.I)
_CONSTRAINT = re.compile(r"(<=|>=|!=|=<|=>|<|>|=|≤|≥)?\s*([^<>=!≤≥|,;]+)")


def _version_or_wildcard(text: str) -> list[Constraint] | None:
    """`12.4` -> [=12.4]; `12.4.*` / `12.4.x` / `12.4x` -> [>=12.4, <12.5]; None when not a version."""
    text = text.strip()
    wildcard = parse_wildcard(text)
    if wildcard:
        return [Constraint(">=", wildcard[0]), Constraint("<", wildcard[1])]
    version = parse_version(text)
    return None if version is None else [Constraint("=", version)]


def _bounded(op: str, value: str) -> list[Constraint] | None:
    """`op value`, where a wildcard value stands for its whole series: `>= 6.x` -> >=6; `<= 10.x` -> <11;
    `> 6.x` -> >=7; `< 6.x` -> <6; `= 6.x` -> >=6, <7."""
    wildcard = parse_wildcard(value)
    if wildcard is not None:
        low, high = wildcard
        mapped = {">=": [(">=", low)], ">": [(">=", high)], "<=": [("<", high)], "<": [("<", low)]}
        pairs = mapped.get(op, [(">=", low), ("<", high)] if op == "=" else None)
        return None if pairs is None else [Constraint(o, v) for o, v in pairs]
    version = parse_version(value)
    return None if version is None else [Constraint(op, version)]


def _parse_constraint_list(text: str) -> tuple[list[Constraint], str] | None:
    """`>= V6.2 < V7.1`, `<=3.0|>4`, `1.1 | 1.2`, `<V9.0`: constraints, or None (with nothing consumed)."""
    out: list[Constraint] = []
    for trailing, op in _TRAILING:
        if trailing.search(text):
            text = op + trailing.sub("", text)
            break
    for part in re.split(r"\s*(?:\||,|;|\bor\b|\band\b)\s*", text):
        part = part.strip()
        if not part:
            continue
        for phrase, op in _PHRASES:
            if phrase.match(part):
                part = op + phrase.sub("", part)
                break
        for trailing, op in _TRAILING:
            if trailing.search(part):
                part = op + trailing.sub("", part)
                break
        ranged = _RANGE.match(part) if part[:1] not in "<>=!≤≥" else None
        if ranged:
            low, high = parse_version(ranged.group(1)), parse_version(ranged.group(2))
            if low is not None and high is not None:
                out += [Constraint(">=", low), Constraint("<=", high)]
                continue
        pieces = _CONSTRAINT.findall(part)
        if not pieces:
            return None
        for op, value in pieces:
            op = {"=<": "<=", "=>": ">=", "≤": "<=", "≥": ">="}.get(op, op)
            if not op:
                listed = _version_or_wildcard(value)
                if listed is None:
                    # "2.2 2.2.0.1": versions listed with spaces only
                    words = value.split()
                    parsed = [_version_or_wildcard(w) for w in words] if len(words) > 1 else [None]
                    if any(
                        p is None or not re.match(r"^[vr]?\d", w, re.I)
                        for p, w in zip(parsed, words, strict=True)
                    ):
                        return None
                    listed = [c for p in parsed if p is not None for c in p]
                out += listed
                continue
            bounded = _bounded(op, value)
            if bounded is None:
                return None
            out += bounded
    return (out, "") if out else None


@lru_cache(maxsize=65536)
def parse_spec(raw: str | None) -> Spec:
    """Interpret an advisory's version text. Never raises."""
    if raw is None:
        return Spec(SpecKind.ALL, "", reason="no version given: the product name alone")
    text = raw.strip()
    notes = []
    body = text
    if body.lower().startswith("vers:"):
        scheme, _, body = body[5:].partition("/")
        if not body:
            return Spec(SpecKind.UNINTERPRETABLE, raw, reason="vers: without constraints")
        if scheme.strip().lower() == "deb":
            return _deb_spec(raw, body)
        if scheme.strip().lower() not in ("all", "generic", "semver", "npm", "pypi", "maven", "nuget"):
            notes.append(f"vers scheme {scheme!r} compared with the tolerant generic scheme")
    if _PAREN.search(body):
        notes.append("parenthetical ignored: " + "; ".join(_PAREN.findall(body)))
        body = _PAREN.sub(" ", body).strip()
    if not body:
        return Spec(SpecKind.UNINTERPRETABLE, raw, reason="empty version text")
    all_match = _ALL.match(body)
    if all_match:
        body = body[all_match.end() :].strip()
        if not body:
            return Spec(SpecKind.ALL, raw, reason="; ".join(notes))
    parsed = _parse_constraint_list(body)
    if parsed is None:
        return Spec(SpecKind.UNINTERPRETABLE, raw, reason=f"not a version or range: {body[:80]!r}")
    constraints, _ = parsed
    return Spec(SpecKind.CONSTRAINTS, raw, tuple(constraints), reason="; ".join(notes))


def _deb_spec(raw: str, body: str) -> Spec:
    """`vers:deb/>=1:2.0-1|<1:2.0-3+deb12u1`: Debian versions, compared as dpkg compares them."""
    if body.strip() == "*":
        return Spec(SpecKind.ALL, raw, scheme="deb")
    out: list[Constraint] = []
    for part in body.split("|"):
        found = re.match(r"^\s*(<=|>=|!=|<|>|=)?\s*(\S+)\s*$", part)
        version = parse_deb(found.group(2)) if found else None
        if found is None or version is None:
            reason = f"not a Debian version constraint: {part[:80]!r}"
            return Spec(SpecKind.UNINTERPRETABLE, raw, reason=reason)
        out.append(Constraint(found.group(1) or "=", version))
    return Spec(SpecKind.CONSTRAINTS, raw, tuple(out), reason="Debian versions (dpkg order)", scheme="deb")
