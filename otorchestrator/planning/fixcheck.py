"""Advisory rules whose fixed version contradicts their affected range.

A rule says which versions are affected (`< V13.2.1`); the same advisory may say which version fixes it: a
product-tree entry of the same product (and variant) listed as `fixed`, or a vendor_fix remediation that
names one version ("Update to V13.2.2 or later"). When that fixed version is inside the affected range, below
it, or above its end (the versions between are then neither affected nor fixed), the advisory contradicts
itself: the rule gets a note that every finding through it carries, and the plan lists it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from otorchestrator.models.advisory import Advisory, ProductRule
from otorchestrator.planning.names import product_key, product_variant
from otorchestrator.planning.versions import Spec, SpecKind, Version, parse_spec, parse_version

_UPDATE_TO = re.compile(
    r"\b(?:update|upgrade)\s+(?:\S+\s+){0,6}?to\s+(?:version\s+)?"
    r"([vVrR]?\d+(?:\.\d+)+\w*(?:[ _](?:sp|service pack|update|upd|hf|hotfix|patch|p)[ _]?\d+\b)*)",
    re.I,
)


def _remediation_fixes(advisory: Advisory) -> dict[str, Version]:
    """product_id -> the one version its vendor_fix remediations name after "update to" (none when they
    name none or several). Each remediation text is read once, whatever the number of products."""
    found: dict[str, set[str]] = {}
    texts: dict[str, list[str]] = {}
    for vuln in advisory.vulnerabilities:
        for rem in vuln.remediations:
            if rem.category != "vendor_fix" or not rem.details:
                continue
            named = texts.get(rem.details)
            if named is None:
                named = texts[rem.details] = _UPDATE_TO.findall(rem.details)
            for pid in rem.product_ids:
                found.setdefault(pid, set()).update(named)
    out = {}
    for pid, written in found.items():
        versions = {v for v in (parse_version(t) for t in written) if v is not None}
        if len(versions) == 1:
            out[pid] = versions.pop()
    return out


def _tree_fixes(advisory: Advisory) -> dict[tuple[str, frozenset[str]], list[tuple[ProductRule, Version]]]:
    """Product-tree entries some vulnerability lists as fixed, with the single version each names."""
    fixed_ids = {pid for v in advisory.vulnerabilities for pid in v.fixed}
    out: dict[tuple[str, frozenset[str]], list[tuple[ProductRule, Version]]] = {}
    for rule in advisory.products:
        if rule.product_id not in fixed_ids:
            continue
        spec = parse_spec(rule.version)
        if spec.kind is SpecKind.CONSTRAINTS and len(spec.constraints) == 1 and spec.constraints[0].op == "=":
            key = (product_key(rule.product, rule.vendor), product_variant(rule.product))
            out.setdefault(key, []).append((rule, spec.constraints[0].version))
    return out


def contradiction(spec: Spec, fixed: Version) -> str:
    """Why `fixed` cannot be the first fixed version of the affected range `spec`, or ""."""
    if spec.kind is not SpecKind.CONSTRAINTS or spec.scheme != "generic":
        return ""
    if spec.contains(fixed):
        return f"is inside the affected range {spec.describe()}"
    lows = [c.version for c in spec.constraints if c.op in (">=", ">", "=")]
    if lows and fixed < min(lows):
        return f"is below the affected range {spec.describe()}"
    end = spec.upper_bound()
    if end is not None and fixed > end:
        return (
            f"is above the end of the affected range {spec.describe()}: versions from {end.raw} up to "
            f"{fixed.raw} are neither affected nor fixed"
        )
    return ""


def fix_notes(advisory: Advisory, affected: Iterable[ProductRule]) -> dict[str, str]:
    """product_id -> the contradiction note, for each affected rule whose fixed version contradicts it."""
    tree = _tree_fixes(advisory)
    remediations = _remediation_fixes(advisory)
    notes: dict[str, str] = {}
    for rule in affected:
        spec = parse_spec(rule.version)
        if spec.kind is not SpecKind.CONSTRAINTS:
            continue
        candidates: list[tuple[str, Version]] = []
        remediation = remediations.get(rule.product_id)
        if remediation is not None:
            candidates.append(("vendor_fix remediation", remediation))
        key = (product_key(rule.product, rule.vendor), product_variant(rule.product))
        candidates += [(f"fixed entry {r.product_id}", v) for r, v in tree.get(key, ()) if r is not rule]
        found = [
            f"fixed version {version.raw} ({where}) {why}"
            for where, version in candidates
            if (why := contradiction(spec, version))
        ]
        if found:
            notes[rule.product_id] = "; ".join(dict.fromkeys(found))
    return notes
