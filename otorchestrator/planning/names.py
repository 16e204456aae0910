"""Vendor and product name normalization: case, punctuation, legal suffixes, generic words."""

from __future__ import annotations

import re
from functools import lru_cache

_LEGAL = (
    "ag inc incorporated se corporation corp co company ltd limited llc gmbh sa plc kg bv nv oy ab spa srl"
)
LEGAL_SUFFIXES = frozenset((_LEGAL + " pty kk sas ltda lp llp ug mbh").split(" "))
_GENERIC = (
    "device devices firmware software series family product products all versions version module modules"
)
GENERIC_PRODUCT_WORDS = frozenset(_GENERIC.split(" "))
_PAREN = re.compile(r"\([^()]*\)")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _words(text: str) -> list[str]:
    return [w for w in _NON_WORD.split(text.lower().replace("&", " ")) if w]


def _strip_legal(words: list[str]) -> list[str]:
    while words and words[-1] in LEGAL_SUFFIXES:
        words = words[:-1]
    while words and words[0] == "the":
        words = words[1:]
    return words


@lru_cache(maxsize=65536)
def vendor_key(vendor: str) -> str:
    """`Siemens AG` -> `siemens`; `Schneider Electric SE` -> `schneider electric`."""
    return " ".join(_strip_legal(_words(_PAREN.sub(" ", vendor))))


@lru_cache(maxsize=65536)
def vendor_aliases(vendor: str) -> tuple[str, ...]:
    """Every name a vendor string stands for: `ICONICS, Mitsubishi Electric` -> both;
    `General Electric (GE)` -> `general electric` and `ge`."""
    out: dict[str, None] = {}
    full = vendor_key(vendor)
    if full:
        out[full] = None
    for inner in re.findall(r"\(([^()]*)\)", vendor):
        key = vendor_key(inner)
        if key:
            out[key] = None
    for part in re.split(r",|/|;|\band\b", _PAREN.sub(" ", vendor)):
        key = vendor_key(part)
        if key:
            out[key] = None
    return tuple(out)


@lru_cache(maxsize=65536)
def vendor_match(installed: str, advisory_vendor: str | None) -> str | None:
    """How the installed vendor matches the advisory's vendor, or None when it does not. Cached: the
    matcher asks it once per candidate rule of every distinct installed product (25k times for 10k assets)
    about a few hundred distinct vendor pairs."""
    if advisory_vendor is None:
        return "the advisory names no vendor for this product"
    mine = vendor_key(installed)
    if not mine:
        return None
    aliases = vendor_aliases(advisory_vendor)
    shared = next((a for a in vendor_aliases(installed) if a in aliases and a != mine), None)
    if mine not in aliases and shared is not None:
        return f"vendor alias {shared!r} of {installed!r} named by {advisory_vendor!r}"
    if mine in aliases:
        how = (
            "same name"
            if installed.strip() == advisory_vendor.strip()
            else "same after normalizing case/suffixes"
        )
        return f"vendor {how}"
    mine_words = mine.split()
    for alias in aliases:
        words = alias.split()
        shorter, longer = sorted((mine_words, words), key=len)
        if longer[: len(shorter)] == shorter:
            return f"vendor name prefix ({installed!r} ~ {alias!r})"
    return None


@lru_cache(maxsize=65536)
def product_key(product: str, vendor: str | None = None) -> str:
    """`SIPROTEC 5 devices (CPU variant CP300)` -> `siprotec 5`; a leading vendor name is dropped."""
    words = _words(_PAREN.sub(" ", product))
    if vendor:
        for alias in vendor_aliases(vendor):
            prefix = alias.split()
            if len(words) > len(prefix) and words[: len(prefix)] == prefix:
                words = words[len(prefix) :]
                break
    kept = [w for w in words if w not in GENERIC_PRODUCT_WORDS]
    return " ".join(kept or words)


# a parenthetical that widens a name instead of naming one variant: "(incl. SIPLUS variants)"
_SCOPE_NOTE = re.compile(r"^\s*(?:incl\b|including\b|all\b|formerly\b|for\b|mlfb\b|also\b|e\.?g\b)", re.I)


@lru_cache(maxsize=65536)
def product_variant(product: str) -> frozenset[str]:
    """The variant a product name pins, as its normalized parentheticals: order numbers (MLFB) such as
    `(6ES7518-4FX00-1AC0)`, regional or hardware variants such as `(EU)`, `(32M)`, `(CPU variant CP300)`.
    Scope notes (`(incl. SIPLUS variants)`, `(all models)`) pin nothing. Empty: every variant."""
    groups = (" ".join(_words(inner)) for inner in re.findall(r"\(([^()]*)\)", product))
    return frozenset(g for g in groups if g and not _SCOPE_NOTE.match(g))


def variant_relation(installed: frozenset[str], rule: frozenset[str]) -> str | None:
    """How an installed product's variant relates to a rule's: "" when the rule covers it (the rule pins no
    variant, or only what the installed name pins too); a note when the inventory does not say which
    variant it is (the rule may apply: matched, and said so); None when they name different variants."""
    if rule <= installed:
        return ""
    if installed <= rule:
        missing = ", ".join(sorted(rule - installed))
        return f"the inventory does not pin the variant ({missing}) this rule is for: matched to be safe"
    return None
