"""plan + policy + now -> WavePlan. Pure: no I/O, no clock; `now` is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from otorchestrator.collector import collector_paused
from otorchestrator.models.asset import Asset, Criticality
from otorchestrator.models.plan import Plan
from otorchestrator.models.policy import RiskKey, WavePolicy
from otorchestrator.models.waves import CanaryGap, WavePlan
from otorchestrator.planning.waves.canary import CanaryChoice, choose_canaries
from otorchestrator.planning.waves.explain import Explainer
from otorchestrator.planning.waves.schedule import Schedule, Slotted, WaveDraft, schedule, urgent_closure
from otorchestrator.planning.waves.triage import URGENT_DECISIONS, Candidate, Left, Triage, risk_key, triage
from otorchestrator.planning.waves.windows import zone_name


def risk_text(asset: Asset) -> str:
    return _risk_text(asset.criticality, asset.safety_system, asset.purdue_level)


@lru_cache(maxsize=256)
def _risk_text(criticality: Criticality, safety_system: bool, purdue_level: float) -> str:
    safety = ", safety system" if safety_system else ""
    return f"criticality {criticality.value}{safety}, Purdue {purdue_level:g}"


def _urgency(cand: Candidate) -> str:
    decisions = sorted({i.decision.value for i in cand.items if i.decision in URGENT_DECISIONS})
    kev = sorted({c for i in cand.items if i.in_kev for c in i.cves})
    listed = f"; KEV: {_listing(tuple(kev))}" if kev else ""
    return ", ".join(decisions) + listed


def _tier_text(cand: Candidate, policy: WavePolicy) -> str:
    asset = cand.asset
    parts = {
        RiskKey.CRITICALITY: f"criticality {asset.criticality.value}",
        RiskKey.SAFETY_SYSTEM: "safety system" if asset.safety_system else "not a safety system",
        RiskKey.PURDUE_LEVEL: f"Purdue {asset.purdue_level:g}",
        RiskKey.PRIORITY: f"priority {min(i.priority_rank for i in cand.items)}",
    }
    return ", ".join(parts[key] for key in policy.risk_order[: policy.tier_keys])


def _listing(names: tuple[str, ...], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def stage_waves(plan: Plan, policy: WavePolicy, now: datetime, inventory: str | None = None) -> WavePlan:
    """Stage the plan's deployable items into waves. The result is sealed (content_hash set)."""
    with collector_paused():
        return _stage(plan, policy, now, inventory)


def _stage(plan: Plan, policy: WavePolicy, now: datetime, inventory: str | None) -> WavePlan:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (e.g. 2026-11-22T02:00:00+00:00)")
    now = now.astimezone(UTC)
    start = now + timedelta(minutes=policy.start_delay_minutes)
    limit = now + timedelta(hours=policy.horizon_hours)
    tri = triage(plan, policy, start, limit)

    risks = {name: risk_key(cand, policy.risk_order) for name, cand in tri.candidates.items()}
    tiers_of = {name: key[: policy.tier_keys] for name, key in risks.items()}

    def risk(cand: Candidate) -> tuple[float, ...]:
        return risks[cand.asset.name]

    def tier(cand: Candidate) -> tuple[float, ...]:
        return tiers_of[cand.asset.name]

    urgent = urgent_closure(tri.candidates)
    choice = choose_canaries(tri.candidates, policy, risk, urgent)
    pilot = {c: n for n, cs in choice.hosts.items() for c in cs}  # combination -> its canary

    def describe(host: Slotted) -> str:
        cand = host.cand
        approved = ""
        if cand.approval is not None:
            approved = f"; approved by {cand.approval.approved_by}"
        covers = choice.hosts.get(host.name)
        if covers is not None:
            what = f"canary covering {_listing(covers)}"
        elif host.name in choice.solo:
            what = f"no canary covers {choice.solo[host.name]}: its first host, alone in its wave"
        elif cand.urgent:
            what = f"urgent ({_urgency(cand)}): the earliest safe wave"
        elif host.urgent:
            clients = sorted(n for n in host.dependents if n in urgent)
            what = f"urgent: a dependency of {_listing(tuple(clients))}"
        else:
            what = "risk order"
        return f"{what} ({risk_text(cand.asset)}){approved}"

    tiers: dict[tuple[float, ...], str] = {}

    def tier_text(host: Slotted) -> str:
        key = tier(host.cand)
        if key not in tiers:
            tiers[key] = _tier_text(host.cand, policy)
        return tiers[key]

    explain = Explainer(describe, tier_text, choice.combos, pilot, bool(choice.hosts))
    result = schedule(
        tri.candidates,
        choice.hosts,
        choice.solo,
        pilot,
        choice.combos,
        urgent,
        risk,
        tier,
        explain,
        explain.no_fit,
        policy,
        start,
        limit,
    )
    waves = [_wave(draft, choice, policy) for draft in result.waves]
    placed = {h.name for w in result.waves for h in w.hosts}
    used_patches: set[str] = set()
    for draft in result.waves:
        for host in draft.hosts:
            used_patches.update([i.patch_id for i in host.cand.items])
    wave_plan = WavePlan.model_validate(
        {
            "created_at": now,
            "plan_hash": plan.content_hash or plan.compute_hash(),
            "policy_hash": policy.compute_hash(),
            "policy": policy,
            "inventory": inventory,
            "assets": tuple(a for a in plan.assets if a.name in placed),
            "patches": tuple(p for p in plan.patches if p.id in used_patches),
            "waves": waves,
            "holds": tuple(tri.holds),
            "exclusions": _exclusions(plan, tri, result),
            "canary_gaps": _gaps(choice, result, policy),
            "warnings": () if policy.canary.enabled else ("canary waves are disabled by the policy",),
        }
    )
    return wave_plan.sealed()


def _wave(draft: WaveDraft, choice: CanaryChoice, policy: WavePolicy) -> dict[str, Any]:
    canary = draft.kind == "canary"
    budget = (policy.canary.failure_budget or policy.failure_budget) if canary else policy.failure_budget
    return {
        "index": draft.index,
        "name": draft.name,
        "kind": "canary" if canary else "wave",
        "slot_start": draft.start,
        "slot_end": draft.end,
        "failure_budget": budget.for_wave(len(draft.hosts)),
        "budget_counts_blocked": budget.count_blocked,
        "hosts": [_host(h, choice) for h in draft.hosts],
    }


def _host(host: Slotted, choice: CanaryChoice) -> dict[str, Any]:
    cand = host.cand
    asset = cand.asset
    assert host.fit is not None
    return {
        "name": asset.name,
        "zone": asset.zone,
        "purdue_level": asset.purdue_level,
        "role": asset.role,
        "criticality": asset.criticality,
        "safety_system": asset.safety_system,
        "redundancy_group": asset.redundancy_group,
        "items": [
            {
                "patch_id": i.patch_id,
                "priority_rank": i.priority_rank,
                "decision": i.decision,
                "cves": i.cves,
                "override": i.override,
                "exemption": i.exemption,
            }
            for i in cand.items
        ],
        "duration_minutes": cand.duration,
        "rollback_minutes": cand.rollback,
        "reboot_required": any(p.reboot_required for p in cand.patches),
        "window_start": host.fit.start,
        "window_end": host.fit.end,
        "latest_start": host.fit.end - cand.need,
        "waits_for": host.waits_for,
        "approval": cand.approval,
        "canary_covers": choice.hosts.get(host.name, ()),
        "placement_rule": host.rule,
        "placement_reason": host.reason,
        "urgent": host.urgent,
        "timezone": zone_name(cand.timeline.zone),
        "constraints": [
            {"rule": c.rule, "releases_at": c.releases_at, "hosts": c.hosts} for c in host.constraints
        ],
    }


def _exclusions(plan: Plan, tri: Triage, result: Schedule) -> list[dict[str, Any]]:
    dropped = [
        Left(name, item.patch_id, rule, reason, True)
        for name, (rule, reason) in result.dropped.items()
        for item in tri.candidates[name].items
    ]
    everything = tri.exclusions  # in plan order (triage sorts them)
    if dropped:
        rank = {(i.asset, i.patch_id): n for n, i in enumerate(plan.items)}
        everything = sorted([*everything, *dropped], key=lambda e: rank.get((e.asset, e.patch_id), -1))
    return [e._asdict() for e in everything]


def _gaps(choice: CanaryChoice, result: Schedule, policy: WavePolicy) -> tuple[CanaryGap, ...]:
    if not policy.canary.enabled:
        return ()
    canary_hosts = [h for w in result.waves if w.kind == "canary" for h in w.hosts]
    covered = {c for h in canary_hosts for c in choice.combos[h.name]}
    owner = {c: name for name, combos in choice.hosts.items() for c in combos}
    gaps: dict[str, str] = {}
    for wave in result.waves:
        for host in wave.hosts:
            for combo in choice.combos[host.name]:
                if combo in covered or combo in gaps:
                    continue
                if combo in choice.gaps:
                    gaps[combo] = choice.gaps[combo]
                elif combo in owner and owner[combo] in result.dropped:
                    gaps[combo] = (
                        f"its canary {owner[combo]} could not be placed: {result.dropped[owner[combo]][1]}"
                    )
                else:
                    gaps[combo] = "no canary host was placed for it"
    return tuple(CanaryGap(combination=c, reason=r) for c, r in sorted(gaps.items()))
