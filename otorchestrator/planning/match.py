"""Which installed products are affected, by which advisory rule, and why.

An `AdvisoryIndex` is built once from all advisories; `match_product` answers for one installed product
(vendor, product, version) and is cached, so a large inventory costs one lookup per distinct product.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from otorchestrator.models.advisory import Advisory, ProductRule, Remediation, Score, Vulnerability
from otorchestrator.models.asset import InstalledProduct
from otorchestrator.models.plan import RuleProblem
from otorchestrator.planning.names import product_key, vendor_match
from otorchestrator.planning.versions import Spec, SpecKind, parse_spec, parse_version


@dataclass(frozen=True)
class CompiledRule:
    advisory: Advisory
    rule: ProductRule
    spec: Spec
    vulns: tuple[Vulnerability, ...]  # vulnerabilities that list this product id as affected

    @cached_property
    def effects(self) -> tuple[tuple[str, Vulnerability, Score | None, str], ...]:
        """(cve, vulnerability, score, fix summary) per affecting vulnerability: the version-independent
        part of every hit through this rule, computed once per rule (not once per installed product)."""
        pid = self.rule.product_id
        return tuple((v.cve, v, _score_for(v, pid), fix_summary(v, pid)) for v in self.vulns if v.cve)


@dataclass(frozen=True)
class Hit:
    """One CVE affecting one installed product through one advisory rule."""

    cve: str
    advisory: Advisory
    rule: ProductRule
    vuln: Vulnerability
    score: Score | None
    why: str
    fix: str = ""  # what the advisory says to do, for the "no patch available" report

    @property
    def remediations(self) -> tuple[Remediation, ...]:
        return tuple(r for r in self.vuln.remediations if self.rule.product_id in r.product_ids)


def fix_summary(vuln: Vulnerability, product_id: str) -> str:
    """What the advisory says to do for this product (vendor fix / no fix), one line each."""
    lines = [
        f"{r.category}: {r.details.splitlines()[0][:160]}"
        for r in vuln.remediations
        if r.category in ("vendor_fix", "no_fix_planned", "none_available")
        and r.details
        and product_id in r.product_ids
    ]
    return " | ".join(dict.fromkeys(lines))


@dataclass(frozen=True)
class ProductMatch:
    named: bool  # some advisory rule names this vendor/product (whatever the version)
    hits: tuple[Hit, ...] = ()
    needs_review: tuple[CompiledRule, ...] = ()  # product named, but version text not interpretable
    note: str = ""


@dataclass
class AdvisoryIndex:
    by_product: dict[str, list[CompiledRule]] = field(default_factory=dict)
    uninterpretable: list[CompiledRule] = field(default_factory=list)
    rules: int = 0
    _cache: dict[tuple[str, str, str], ProductMatch] = field(default_factory=dict, repr=False)

    def match(self, installed: InstalledProduct) -> ProductMatch:
        key = (installed.vendor, installed.product, installed.version)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _match(self, *key)
        return found


def _score_for(vuln: Vulnerability, product_id: str) -> Score | None:
    scored = [
        s for s in vuln.scores if s.base_score is not None and (not s.products or product_id in s.products)
    ]
    if not scored:
        return vuln.max_score()
    return max(scored, key=lambda s: (s.base_score or 0.0, s.vector or ""))


def build_index(advisories: tuple[Advisory, ...]) -> AdvisoryIndex:
    index = AdvisoryIndex()
    grouped: dict[str, list[CompiledRule]] = defaultdict(list)
    for advisory in advisories:
        affecting: dict[str, list[Vulnerability]] = defaultdict(list)
        for vuln in advisory.vulnerabilities:
            fixed = set(vuln.fixed) | set(vuln.not_affected)
            for pid in vuln.affected:
                if pid not in fixed and vuln.cve:
                    affecting[pid].append(vuln)
        for rule in advisory.products:
            compiled = CompiledRule(
                advisory, rule, parse_spec(rule.version), tuple(affecting.get(rule.product_id, ()))
            )
            index.rules += 1
            for key in sorted({product_key(rule.product, rule.vendor), product_key(rule.product)}):
                grouped[key].append(compiled)
            if compiled.spec.kind is SpecKind.UNINTERPRETABLE:
                index.uninterpretable.append(compiled)
    index.by_product = dict(grouped)
    return index


def _match(index: AdvisoryIndex, vendor: str, product: str, version: str) -> ProductMatch:
    keys = dict.fromkeys((product_key(product, vendor), product_key(product)))
    candidates = list({id(c): c for key in keys for c in index.by_product.get(key, [])}.values())
    parsed = parse_version(version)
    named = False
    hits: list[Hit] = []
    review: list[CompiledRule] = []
    for compiled in candidates:
        how = vendor_match(vendor, compiled.rule.vendor)
        if how is None:
            continue
        named = True
        spec = compiled.spec
        if spec.kind is SpecKind.ALL:
            inside: bool | None = True
        elif parsed is None:
            inside = None
        else:
            inside = spec.contains(parsed)
        if inside is None:
            review.append(compiled)
            continue
        if not inside or not compiled.vulns:
            continue
        rule = compiled.rule
        why = (
            f"{compiled.advisory.id} {rule.product_id}: {how}; product {rule.product!r}; "
            f"version {version} in {spec.describe()} (advisory text {rule.version or 'none'!r})"
        )
        advisory = compiled.advisory
        hits += [Hit(c, advisory, rule, vuln, score, why, fix) for c, vuln, score, fix in compiled.effects]
    note = "" if parsed is not None else f"installed version {version!r} could not be parsed"
    return ProductMatch(named=named, hits=tuple(hits), needs_review=tuple(review), note=note)


def rule_problems(index: AdvisoryIndex, reviewed: set[tuple[str, str]]) -> tuple[RuleProblem, ...]:
    """Every rule the matcher could not interpret; `reviewed`: (advisory, product_id) an inventory named."""
    out = [
        RuleProblem(
            advisory=c.advisory.id,
            product_id=c.rule.product_id,
            vendor=c.rule.vendor or "",
            product=c.rule.product,
            text=c.rule.version or "",
            reason=c.spec.reason,
            inventory_match=(c.advisory.id, c.rule.product_id) in reviewed,
        )
        for c in index.uninterpretable
    ]
    return tuple(sorted(out, key=lambda p: (not p.inventory_match, p.advisory, p.product_id)))
