"""Debian package versions (`[epoch:]upstream[-revision]`) ordered exactly as `dpkg --compare-versions` does.

dpkg compares the epoch as a number, then upstream and revision with `verrevcmp`: alternating runs of
non-digits (compared character by character, `~` before the end of the string before everything else,
letters before other characters) and digits (compared as numbers). `deb_key` turns a version into a tuple
whose ordinary Python ordering is that order, so versions sort and compare without a custom comparator.
`versions.parse_deb` wraps it in a `Version`; tests/unit/test_debver.py checks it against dpkg itself.
"""

from __future__ import annotations

import re
from functools import lru_cache

_UPSTREAM = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9.+~]+$")
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")

Part = tuple[tuple[tuple[int, ...], int], ...]
DebKey = tuple[int, Part, Part]
_END: tuple[tuple[int, ...], int] = ((0,), 0)  # what a finished string compares as


def _order(ch: str) -> int:
    if ch == "~":
        return -1
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _part(text: str) -> Part:
    runs: list[tuple[tuple[int, ...], int]] = []
    for letters, digits in _RUNS.findall(text):
        if not letters and not digits:
            continue
        runs.append(((*(_order(c) for c in letters), 0), int(digits) if digits else 0))
    while runs and runs[-1] == _END:
        runs.pop()
    runs.append(_END)  # the end compares as dpkg compares a finished string with a longer one
    return tuple(runs)


def split_deb(text: str) -> tuple[int, str, str] | None:
    """(epoch, upstream, revision) of a dpkg version, or None when dpkg would refuse it."""
    raw = text.strip()
    epoch = 0
    if ":" in raw:
        head, _, raw = raw.partition(":")
        if not head.isdigit():
            return None
        epoch = int(head)
    upstream, dash, revision = raw.rpartition("-")
    if not dash:
        upstream, revision = raw, ""
    if not _UPSTREAM.match(upstream) or (dash and not _REVISION.match(revision)):
        return None
    return epoch, upstream, revision


@lru_cache(maxsize=65536)
def deb_key(text: str) -> DebKey | None:
    parts = split_deb(text)
    if parts is None:
        return None
    epoch, upstream, revision = parts
    return (epoch, _part(upstream), _part(revision))


def compare_deb(a: str, b: str) -> int:
    """-1, 0 or 1 as `dpkg --compare-versions a lt/eq/gt b`. Raises ValueError on an invalid version."""
    ka, kb = deb_key(a), deb_key(b)
    if ka is None or kb is None:
        raise ValueError(f"not a Debian version: {a if ka is None else b!r}")
    return (ka > kb) - (ka < kb)
