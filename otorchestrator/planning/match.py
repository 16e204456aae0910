"""Which installed products are affected, by which advisory rule, and why.

An `AdvisoryIndex` is built once from all advisories; `match_product` answers for one installed product
(vendor, product, version) and is cached, so a large inventory costs one lookup per distinct product.

A product's variant (its parenthesised order number or hardware variant, `names.product_variant`) is part of
its identity: a rule for one variant never applies to another. A rule that names the product's family while
the inventory names a component (`ThinManager` vs `ThinManager ThinServer`), or the same product under a
vendor that does not match, is a `NearName`: reported for review with both texts, never matched or dropped
silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from otorchestrator.models.advisory import Advisory, ProductRule, Remediation, Score, Vulnerability
from otorchestrator.models.asset import InstalledProduct
from otorchestrator.models.plan import RuleProblem
from otorchestrator.planning.fixcheck import fix_notes
from otorchestrator.planning.names import product_key, product_variant, variant_relation, vendor_match
from otorchestrator.planning.versions import Spec, SpecKind, parse_spec, parse_version


@dataclass(frozen=True)
class CompiledRule:
    advisory: Advisory
    rule: ProductRule
    spec: Spec
    vulns: tuple[Vulnerability, ...]  # vulnerabilities that list this product id as affected
    variant: frozenset[str] = frozenset()
    fix_note: str = ""  # the advisory's fixed version contradicts this rule's range (fixcheck)
    # fix lines and best scores per product id, by id() of the vulnerability: one dict per advisory, filled
    # as rules ask
    fixes: dict[int, tuple[dict[str, list[str]], _Scores]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @cached_property
    def entry(self) -> str:
        """The product-tree entry: advisory, product id, full product name and the version text."""
        rule = self.rule
        name = rule.full_name or rule.product
        return f"{self.advisory.id} {rule.product_id} {name!r} (version text {rule.version or 'none'!r})"

    @cached_property
    def effects(self) -> tuple[tuple[str, Vulnerability, Score | None, str], ...]:
        """(cve, vulnerability, score, fix summary) per affecting vulnerability: the version-independent
        part of every hit through this rule, computed once per rule (not once per installed product)."""
        pid, fixes = self.rule.product_id, self.fixes
        out = []
        for v in self.vulns:
            if v.cve:
                facts = fixes.get(id(v))
                if facts is None:
                    facts = fixes[id(v)] = (fix_lines(v), _score_table(v))
                lines, scores = facts
                fix = " | ".join(dict.fromkeys(lines.get(pid, ())))
                out.append((v.cve, v, _score_for(v, scores, pid), fix))
        return tuple(out)


@dataclass(slots=True)  # not frozen: ~20k per 10k assets, and a frozen init costs 5x (never changed)
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


_FIX_CATEGORIES = ("vendor_fix", "no_fix_planned", "none_available")


def fix_lines(vuln: Vulnerability) -> dict[str, list[str]]:
    """Per product id, what the advisory says to do for it (vendor fix / no fix), one line each, in the
    advisory's order: one pass over the remediations for all of the vulnerability's products."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in vuln.remediations:
        if r.category in _FIX_CATEGORIES and r.details:
            line = f"{r.category}: {r.details.splitlines()[0][:160]}"
            for pid in r.product_ids:
                out[pid].append(line)
    return out


@dataclass(frozen=True, slots=True)
class NearName:
    """A rule that may name this installed product but not certainly: a human decides."""

    rule: CompiledRule
    reason: str


@dataclass(frozen=True, slots=True)
class ProductMatch:
    named: bool  # some advisory rule names this vendor/product (whatever the version)
    hits: tuple[Hit, ...] = ()
    needs_review: tuple[CompiledRule, ...] = ()  # product named, but version text not interpretable
    note: str = ""
    near: tuple[NearName, ...] = ()


@dataclass(frozen=True, slots=True)
class _Named:
    """A rule that names a product (vendor and variant agree): what a hit through it says, but the version."""

    compiled: CompiledRule
    head: str  # the hit's `why` up to the installed version
    tail: str  # and after it


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The version-independent part of matching one installed (vendor, product), computed once for all of
    its versions: the rules that name it, and the near names (each kept only where its range may hold)."""

    named: tuple[_Named, ...]
    near: tuple[NearName, ...]  # in the order reported: vendor aliases first, then families


@dataclass
class AdvisoryIndex:
    by_product: dict[str, list[CompiledRule]] = field(default_factory=dict)
    uninterpretable: list[CompiledRule] = field(default_factory=list)
    contradicted: list[CompiledRule] = field(default_factory=list)
    rules: int = 0
    _cache: dict[tuple[str, str, str], ProductMatch] = field(default_factory=dict, repr=False)
    _candidates: dict[tuple[str, str], _Candidates] = field(default_factory=dict, repr=False)

    def match(self, installed: InstalledProduct) -> ProductMatch:
        key = (installed.vendor, installed.product, installed.version)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _match(self, *key)
        return found

    def candidates(self, vendor: str, product: str) -> _Candidates:
        found = self._candidates.get((vendor, product))
        if found is None:
            found = self._candidates[(vendor, product)] = _candidates(self, vendor, product)
        return found


# per product id (None: the scores that name no product): the best score's key, its position, the score
_Scores = dict[str | None, tuple[tuple[float, str], int, Score]]


def _score_table(vuln: Vulnerability) -> _Scores:
    """One pass over a vulnerability's scores for all of its products: per product id, the first score of
    the highest (base score, vector) that names it; under None the same of the scores naming no product."""
    best: _Scores = {}
    for position, score in enumerate(vuln.scores):
        if score.base_score is None:
            continue
        key = (score.base_score or 0.0, score.vector or "")
        for pid in score.products or (None,):
            found = best.get(pid)
            if found is None or key > found[0]:
                best[pid] = (key, position, score)
    return best


def _score_for(vuln: Vulnerability, scores: _Scores, product_id: str) -> Score | None:
    """The first score of the highest (base score, vector) among those naming `product_id` or no product
    (`scores` = `_score_table(vuln)`); the vulnerability's best score when there is none."""
    general, own = scores.get(None), scores.get(product_id)
    if general is None or own is None:
        chosen = general or own
        return vuln.max_score() if chosen is None else chosen[2]
    return general[2] if (general[0], -general[1]) > (own[0], -own[1]) else own[2]


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
        notes = fix_notes(advisory, (r for r in advisory.products if r.product_id in affecting))
        fixes: dict[int, tuple[dict[str, list[str]], _Scores]] = {}
        for rule in advisory.products:
            compiled = CompiledRule(
                advisory,
                rule,
                parse_spec(rule.version),
                tuple(affecting.get(rule.product_id, ())),
                product_variant(rule.product),
                notes.get(rule.product_id, ""),
                fixes,
            )
            index.rules += 1
            for key in sorted({product_key(rule.product, rule.vendor), product_key(rule.product)}):
                grouped[key].append(compiled)
            if compiled.spec.kind is SpecKind.UNINTERPRETABLE:
                index.uninterpretable.append(compiled)
            if compiled.fix_note:
                index.contradicted.append(compiled)
    index.by_product = dict(grouped)
    return index


def _inside(spec: Spec, version: str) -> bool | None:
    if spec.kind is SpecKind.ALL:
        return True
    parsed = spec.parse(version)
    return None if parsed is None else spec.contains(parsed)


def _near_names(index: AdvisoryIndex, vendor: str, product: str, seen: set[int]) -> list[NearName]:
    """Rules naming this product's family (a word prefix of its name: advisory `ThinManager`, inventory
    `ThinManager ThinServer`), by a matching vendor, with vulnerabilities (the caller keeps those whose range
    holds, or may hold, the installed version).
    The reverse (the advisory names one component of what the inventory names) is not asked: the advisory's
    claim is narrower than the product, and on the real corpus it only adds noise."""
    words = product_key(product, vendor).split()
    out = []
    for near_key in dict.fromkeys(" ".join(words[:n]) for n in range(1, len(words))):
        for compiled in index.by_product.get(near_key, ()):
            rule = compiled.rule
            if id(compiled) in seen or not compiled.vulns or vendor_match(vendor, rule.vendor) is None:
                continue
            seen.add(id(compiled))
            out.append(
                NearName(
                    compiled,
                    f"advisory names the family {rule.product!r}, the inventory {product!r}: "
                    f"{compiled.entry}; not matched, needs a human look",
                )
            )
    return out


def _candidates(index: AdvisoryIndex, vendor: str, product: str) -> _Candidates:
    keys = dict.fromkeys((product_key(product, vendor), product_key(product)))
    candidates = list({id(c): c for key in keys for c in index.by_product.get(key, [])}.values())
    variant = product_variant(product)
    named: list[_Named] = []
    near: list[NearName] = []
    for compiled in candidates:
        rule = compiled.rule
        how = vendor_match(vendor, rule.vendor)
        if how is None:
            if compiled.vulns:
                near.append(
                    NearName(
                        compiled,
                        f"same product name, vendor {rule.vendor!r} is not {vendor!r} (an alias?): "
                        f"{compiled.entry}; not matched, needs a human look",
                    )
                )
            continue
        relation = variant_relation(variant, compiled.variant)
        if relation is None:  # a sibling variant's rule: another product
            continue
        notes = "".join(f"; {n}" for n in (relation, compiled.fix_note) if n)
        head = f"{compiled.entry}: {how}; product {rule.product!r}; version "
        named.append(_Named(compiled, head, f" in {compiled.spec.describe()}{notes}"))
    near += _near_names(index, vendor, product, {id(c) for c in candidates})
    return _Candidates(tuple(named), tuple(near))


def _match(index: AdvisoryIndex, vendor: str, product: str, version: str) -> ProductMatch:
    found = index.candidates(vendor, product)
    parsed = parse_version(version)
    hits: list[Hit] = []
    review: list[CompiledRule] = []
    for named in found.named:
        compiled = named.compiled
        inside = _inside(compiled.spec, version)
        if inside is None:
            review.append(compiled)
            continue
        if not inside or not compiled.vulns:
            continue
        why = named.head + version + named.tail
        advisory, rule = compiled.advisory, compiled.rule
        hits += [Hit(c, advisory, rule, vuln, score, why, fix) for c, vuln, score, fix in compiled.effects]
    near = tuple(n for n in found.near if _inside(n.rule.spec, version) is not False)
    note = "" if parsed is not None else f"installed version {version!r} could not be parsed"
    return ProductMatch(bool(found.named), tuple(hits), tuple(review), note, near)


def _rule_problems(
    rules: Iterable[CompiledRule], reason: Callable[[CompiledRule], str], named: set[tuple[str, str]]
) -> tuple[RuleProblem, ...]:
    """One RuleProblem per indexed rule, those an inventory named (`named`: advisory, product_id) first."""
    out = [
        RuleProblem(
            advisory=c.advisory.id,
            product_id=c.rule.product_id,
            vendor=c.rule.vendor or "",
            product=c.rule.product,
            text=c.rule.version or "",
            reason=reason(c),
            inventory_match=(c.advisory.id, c.rule.product_id) in named,
        )
        for c in rules
    ]
    return tuple(sorted(out, key=lambda p: (not p.inventory_match, p.advisory, p.product_id)))


def rule_problems(index: AdvisoryIndex, reviewed: set[tuple[str, str]]) -> tuple[RuleProblem, ...]:
    """Every rule the matcher could not interpret; `reviewed`: (advisory, product_id) an inventory named."""
    return _rule_problems(index.uninterpretable, lambda c: c.spec.reason, reviewed)


def fix_problems(index: AdvisoryIndex, matched: set[tuple[str, str]]) -> tuple[RuleProblem, ...]:
    """Every rule whose fixed version contradicts its affected range; `matched`: (advisory, product_id) a
    finding went through."""
    return _rule_problems(index.contradicted, lambda c: c.fix_note, matched)
