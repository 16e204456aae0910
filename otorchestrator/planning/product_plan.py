"""Per-product planning: the catalog's patches by product (_Patches), the patch chosen for a product's CVEs
(_choose), and everything about one distinct installed product computed once (_ProductPlan, _plan_product:
its matched and missing CVEs, their rules, provenance and remediation text)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from otorchestrator.models.advisory import Provenance
from otorchestrator.models.asset import InstalledProduct
from otorchestrator.models.catalog import Catalog, Patch
from otorchestrator.planning.match import AdvisoryIndex, Hit, NearName
from otorchestrator.planning.names import product_key, vendor_match
from otorchestrator.planning.versions import Version, parse_deb, parse_version


@dataclass
class _Patches:
    by_product: dict[str, list[tuple[Patch, Version | None]]]

    @classmethod
    def build(cls, catalog: Catalog) -> _Patches:
        grouped: dict[str, list[tuple[Patch, Version | None]]] = defaultdict(list)
        for patch in sorted(catalog.patches, key=lambda p: p.id):
            entry = (patch, parse_version(patch.fixed_version))
            for key in sorted({product_key(patch.product, patch.vendor), product_key(patch.product)}):
                grouped[key].append(entry)
        return cls(dict(grouped))

    def for_product(self, installed: InstalledProduct, version: Version | None) -> list[Patch]:
        out: list[Patch] = []
        keys = dict.fromkeys(
            (product_key(installed.product, installed.vendor), product_key(installed.product))
        )
        for patch, fixed in (e for key in keys for e in self.by_product.get(key, [])):
            if any(p is patch for p in out):  # the same entry under both keys (pydantic's == is slow)
                continue
            if vendor_match(installed.vendor, patch.vendor) is None:
                continue
            if installed.package and patch.package:  # Debian packages: dpkg's order (`1:1.0` > `2.0`)
                mine, target = parse_deb(installed.version), parse_deb(patch.fixed_version)
                if mine is not None and target is not None:
                    if mine < target:
                        out.append(patch)
                    continue
            if version is not None and fixed is not None and version < fixed:
                out.append(patch)
        return out


def _choose(patches: list[Patch], cves: list[str]) -> tuple[Patch, tuple[str, ...]] | None:
    """The patch covering most of the CVEs (then highest target version, then id)."""
    best: tuple[Patch, tuple[str, ...]] | None = None
    best_key: tuple[int, Version | None] | None = None
    for patch in patches:
        covered = tuple(c for c in cves if not patch.fixes or c in patch.fixes)
        if not covered:
            continue
        key = (len(covered), parse_version(patch.target_version))
        better = best_key is None or key[0] > best_key[0]
        if best_key is not None and key[0] == best_key[0] and key[1] is not None:
            better = best_key[1] is None or key[1] > best_key[1]
        if better:
            best, best_key = (patch, covered), key
    return best


@dataclass(frozen=True, slots=True)
class _ProductPlan:
    """Everything about one distinct installed product (vendor, product, version), computed once."""

    named: bool
    unparsed: bool
    reviewed: tuple[tuple[str, str], ...]
    patch: Patch | None = None
    covered: tuple[tuple[str, Hit], ...] = ()  # (cve, the first hit naming it)
    matched_rules: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    missing_advisories: tuple[str, ...] = ()
    missing_rules: tuple[str, ...] = ()
    remediation: str = ""
    provenance: tuple[Provenance, ...] = ()  # of the advisories behind `covered`
    missing_provenance: tuple[Provenance, ...] = ()  # of `missing_advisories`
    near: tuple[NearName, ...] = ()
    through: tuple[tuple[str, str], ...] = ()  # (advisory, product id) of every hit


def _provenance(hits: Iterable[Hit]) -> tuple[Provenance, ...]:
    """The stored revisions (one per advisory, by id) behind `hits`; () for advisories read from a folder."""
    found = {h.advisory.id: h.advisory.provenance for h in hits if h.advisory.provenance is not None}
    return tuple(found[a] for a in sorted(found))


def _plan_product(index: AdvisoryIndex, patches: _Patches, installed: InstalledProduct) -> _ProductPlan:
    match = index.match(installed)
    reviewed = tuple((c.advisory.id, c.rule.product_id) for c in match.needs_review)
    version = parse_version(installed.version)
    if not match.hits:
        return _ProductPlan(named=match.named, unparsed=False, reviewed=reviewed, near=match.near)
    by_cve: dict[str, list[Hit]] = defaultdict(list)
    for hit in match.hits:
        by_cve[hit.cve].append(hit)
    cves = sorted(by_cve)
    chosen = _choose(patches.for_product(installed, version), cves)
    covered = chosen[1] if chosen else ()
    missing = tuple(c for c in cves if c not in covered)
    missing_hits = [h for c in missing for h in by_cve[c]]
    return _ProductPlan(
        named=match.named,
        unparsed=version is None,
        reviewed=reviewed,
        patch=chosen[0] if chosen else None,
        covered=tuple((c, by_cve[c][0]) for c in covered),
        matched_rules=tuple(sorted({h.why for c in covered for h in by_cve[c]})),
        missing=missing,
        missing_advisories=tuple(sorted({h.advisory.id for h in missing_hits})),
        missing_rules=tuple(sorted({h.why for h in missing_hits})),
        remediation=_remediation_text(missing_hits),
        provenance=_provenance(h for c in covered for h in by_cve[c]),
        missing_provenance=_provenance(missing_hits),
        near=match.near,
        through=tuple(sorted({(h.advisory.id, h.rule.product_id) for h in match.hits})),
    )


def _remediation_text(hits: list[Hit]) -> str:
    seen: dict[str, None] = {}
    for hit in hits:
        summary = hit.fix
        if summary:
            seen.setdefault(summary)
    return " | ".join(list(seen)[:3])
