"""Canary selection: the least risky hosts that together cover every combination (by default role / OS /
patch) in the rollout. Greedy set cover in risk order; a combination no eligible host covers is a gap.

Never a canary: a safety system, a host above `canary.max_criticality` (default medium), a host with
dependencies. A gap's first host (an urgent one if there is one, then in risk order) goes alone in its wave
(`solo`): the smallest first wave."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from otorchestrator.models.plan import PlanItem
from otorchestrator.models.policy import CanaryKey, WavePolicy
from otorchestrator.planning.waves.triage import Candidate


@dataclass(frozen=True, slots=True)
class CanaryChoice:
    hosts: dict[str, tuple[str, ...]]  # canary host -> the combinations it covers
    gaps: dict[str, str]  # combination -> why no canary covers it
    solo: dict[str, str]  # host -> the gap combination it is the first host of (it goes alone in its wave)
    combos: dict[str, tuple[str, ...]]  # every candidate host -> its combinations


def combination(cand: Candidate, item: PlanItem, cover: tuple[CanaryKey, ...]) -> str:
    asset = cand.asset
    parts: dict[CanaryKey, str] = {
        CanaryKey.ROLE: asset.role,  # a StrEnum is its value
        CanaryKey.OS: f"{asset.os.family} {asset.os.version}".strip(),
        CanaryKey.PATCH: item.patch_id,
        CanaryKey.ZONE: asset.zone,
        CanaryKey.SITE: asset.site,
    }
    return "/".join(parts[key] for key in cover)


def combinations(cand: Candidate, cover: tuple[CanaryKey, ...]) -> tuple[str, ...]:
    """`combination` of each item, once each, in item order (the host's parts written once)."""
    if CanaryKey.PATCH not in cover:
        return (combination(cand, cand.items[0], cover),)
    asset = cand.asset
    parts: dict[CanaryKey, str] = {
        CanaryKey.ROLE: asset.role,
        CanaryKey.OS: f"{asset.os.family} {asset.os.version}".strip(),
        CanaryKey.ZONE: asset.zone,
        CanaryKey.SITE: asset.site,
    }
    texts: list[str] = []
    for item in cand.items:
        parts[CanaryKey.PATCH] = item.patch_id
        texts.append("/".join([parts[key] for key in cover]))
    return tuple(dict.fromkeys(texts))


def choose_canaries(
    candidates: dict[str, Candidate],
    policy: WavePolicy,
    risk: Callable[[Candidate], tuple[float, ...]],
    urgent: frozenset[str] | set[str] = frozenset(),
) -> CanaryChoice:
    if not policy.canary.enabled:
        return CanaryChoice({}, {}, {}, {})
    cover = policy.canary.cover
    ceiling = policy.canary.max_criticality
    combos = {name: combinations(c, cover) for name, c in candidates.items()}
    by_combo: dict[str, list[str]] = {}
    for name, cs in combos.items():
        for combo in cs:
            by_combo.setdefault(combo, []).append(name)

    def eligible(name: str) -> str | None:
        cand = candidates[name]
        if cand.asset.safety_system:
            return "a safety system is never a canary"
        if cand.deps:
            return f"depends on {', '.join(cand.deps)}"
        if ceiling is not None and cand.asset.criticality.rank > ceiling.rank:
            return f"criticality {cand.asset.criticality.value} is above the canary maximum {ceiling.value}"
        return None

    why_not = {name: eligible(name) for name in candidates}
    order = {name: (risk(c), -len(combos[name]), name) for name, c in candidates.items()}
    chosen: dict[str, tuple[str, ...]] = {}
    groups: set[str] = set()
    covered: set[str] = set()
    gaps: dict[str, str] = {}
    for combo in sorted(by_combo):
        if combo in covered:
            continue
        able = [n for n in by_combo[combo] if why_not[n] is None]
        if not able:
            reasons = sorted({f"{n}: {why_not[n]}" for n in by_combo[combo]})
            more = f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
            gaps[combo] = "no eligible canary host (" + "; ".join(reasons[:3]) + more + ")"
            continue
        # prefer a host whose redundancy group has no canary yet, then the least risky
        best = min(able, key=lambda n: (candidates[n].asset.redundancy_group in groups, order[n]))
        chosen[best] = combos[best]
        covered.update(combos[best])
        group = candidates[best].asset.redundancy_group
        if group is not None:
            groups.add(group)
    solo: dict[str, str] = {}
    for combo in sorted(gaps):
        first = min(by_combo[combo], key=lambda n: (n not in urgent, order[n]))
        solo.setdefault(first, combo)
    return CanaryChoice(hosts=chosen, gaps=gaps, solo=solo, combos=combos)
