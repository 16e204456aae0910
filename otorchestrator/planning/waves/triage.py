"""Which plan items can go into waves at all: decisions, approvals, windows and dependencies.

Every item ends up in exactly one place: a candidate host's `items`, a hold, or an exclusion.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from otorchestrator.models.asset import Asset, Criticality, MaintenanceWindow
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Approval, Decision, ExemptionRef, Plan, PlanItem
from otorchestrator.models.policy import RiskKey, WavePolicy
from otorchestrator.models.waves import Hold, Rule
from otorchestrator.planning.waves.windows import (
    Timeline,
    local_text,
    local_zone,
    timeline,
    window_minutes,
)

URGENT_DECISIONS = frozenset({Decision.IMMEDIATE, Decision.OUT_OF_CYCLE})


@dataclass(slots=True)
class Candidate:
    """A host with at least one item to deploy, that no rule keeps out before scheduling."""

    asset: Asset
    items: list[PlanItem]
    patches: list[Patch]
    duration: int  # minutes, including the policy's per-host overhead
    rollback: int
    approval: Approval | None
    timeline: Timeline
    deps: list[str] = field(default_factory=list)  # candidate hosts that go first
    not_waited: list[str] = field(default_factory=list)  # why a declared dependency is not waited for
    need: timedelta = timedelta(0)  # duration + rollback
    urgent: bool = False  # an item the plan rates immediate or out_of_cycle: the earliest safe wave

    def __post_init__(self) -> None:
        self.need = timedelta(minutes=self.duration + self.rollback)
        self.urgent = any(i.decision in URGENT_DECISIONS for i in self.items)


class Left(NamedTuple):
    """A plan item left out (fields of models.waves.Exclusion)."""

    asset: str
    patch_id: str
    rule: Rule
    reason: str
    infeasible: bool
    exemption: ExemptionRef | None = None  # the exemption behind an exempt item


@dataclass(slots=True)
class Triage:
    candidates: dict[str, Candidate]  # plan order
    holds: list[Hold]
    exclusions: list[Left]


RANK = {c: n for n, c in enumerate(Criticality)}


def risk_key(cand: Candidate, order: tuple[RiskKey, ...]) -> tuple[float, ...]:
    """Ascending risk: lower sorts first."""
    asset = cand.asset
    values: dict[RiskKey, float] = {
        RiskKey.CRITICALITY: RANK[asset.criticality],
        RiskKey.SAFETY_SYSTEM: int(asset.safety_system),
        RiskKey.PURDUE_LEVEL: -asset.purdue_level,
        RiskKey.PRIORITY: min(item.priority_rank for item in cand.items),
    }
    return tuple(values[key] for key in order)


def _decision_reason(item: PlanItem, policy: WavePolicy) -> str:
    if item.decision is Decision.EXEMPT and item.exemption is not None:
        ex = item.exemption
        controls = ", ".join(ex.compensating_controls) or "none listed"
        return f"exempt by {ex.id} ({ex.reason}; compensating controls: {controls})"
    if item.decision is Decision.BLOCKED:
        why = "; ".join(item.reasons)
        return f"blocked by the plan: {why}" if why else "blocked by the plan"
    return _not_included(item.decision, policy.include_decisions)


@lru_cache(maxsize=64)
def _not_included(decision: Decision, included: tuple[Decision, ...]) -> str:
    allowed = ", ".join(d.value for d in included)
    return f"plan decision '{decision.value}' is not in the policy's include_decisions ({allowed})"


def _asset_approvals(plan: Plan, policy: WavePolicy) -> dict[str, Approval]:
    """Asset name -> its approval; the plan's come first, then the policy's."""
    found: dict[str, Approval] = {}
    for approval in (*plan.approvals, *policy.approvals):
        if approval.kind == "asset":
            found.setdefault(approval.subject, approval)
    return found


def _release_text(name: str) -> str:
    return f'an approval kind "asset", subject "{name}" in the plan (approvals) or the policy (approvals)'


def no_window_text(asset: Asset, duration: int, rollback: int, start: datetime, limit: datetime) -> str:
    """Why no window holds a host: none declared, each too short (saying how long), or none open in time."""
    windows = asset.maintenance_windows
    need = f"{duration + rollback} min (duration {duration} + rollback {rollback})"
    if not windows:
        return f"no maintenance window declared: it needs {need}"
    lengths = [window_minutes(w) for w in windows]
    if None not in lengths and max(m for m in lengths if m is not None) < duration + rollback:
        longest = max(m for m in lengths if m is not None)
        which = "its window is" if len(windows) == 1 else "its longest window is"
        return f"{which} {longest} min, shorter than the {need} it needs"
    zone = local_zone(windows)
    return (
        f"no maintenance window between {local_text(start, zone)} and the horizon "
        f"{local_text(limit, zone)} holds {need}"
    )


def triage(plan: Plan, policy: WavePolicy, start: datetime, limit: datetime) -> Triage:
    assets = plan.asset_map()
    patches = plan.patch_map()
    exclusions: list[Left] = []
    included: dict[str, list[PlanItem]] = {}
    with_items: set[str] = set()
    for item in plan.items:
        if item.asset not in assets or item.patch_id not in patches:
            missing = "asset" if item.asset not in assets else "patch"
            reason = f"the plan has no {missing} named {item.asset if missing == 'asset' else item.patch_id}"
            exclusions.append(Left(item.asset, item.patch_id, Rule.UNKNOWN, reason, True))
            continue
        with_items.add(item.asset)
        if item.decision in policy.include_decisions:  # never exempt or blocked (policy validator)
            included.setdefault(item.asset, []).append(item)
        else:
            reason = _decision_reason(item, policy)
            exclusions.append(Left(item.asset, item.patch_id, Rule.DECISION, reason, False, item.exemption))

    approvals = _asset_approvals(plan, policy)
    timelines: dict[int, Timeline] = {}  # by the identity of the windows tuple (assets often share one)
    same: dict[tuple[MaintenanceWindow, ...], Timeline] = {}
    fits: dict[tuple[int, timedelta], bool] = {}  # (timeline, need) -> a window holds it before the horizon
    candidates: dict[str, Candidate] = {}
    holds: dict[str, Hold] = {}
    out: dict[str, tuple[Rule, str]] = {}  # host -> why it is not in this rollout at all
    for name in with_items - included.keys():
        out[name] = (Rule.DECISION, "none of its items is deployable in this rollout")
    minutes = {pid: (p.expected_duration_minutes, p.rollback_minutes) for pid, p in patches.items()}
    overhead = policy.host_overhead_minutes
    approving: dict[tuple[Criticality, bool], bool] = {}  # (criticality, safety system) -> needs approval
    for name, items in included.items():
        asset = assets[name]
        item_patches = [patches[i.patch_id] for i in items]
        duration, rollback = overhead, 0
        for item in items:
            expected, back = minutes[item.patch_id]
            duration += expected
            rollback += back
        risk = (asset.criticality, asset.safety_system)
        needs_approval = approving.get(risk)
        if needs_approval is None:
            needs_approval = approving[risk] = policy.needs_approval(*risk)
        approval = approvals.get(name) if needs_approval else None
        if needs_approval and approval is None:
            what = "safety system" if asset.safety_system else f"criticality {asset.criticality.value}"
            holds[name] = Hold(
                asset=name,
                patch_ids=tuple(i.patch_id for i in items),
                rule=Rule.APPROVAL,
                reason=f"{what}: needs a recorded approval",
                release=_release_text(name),
            )
            continue
        windows = asset.maintenance_windows
        found = timelines.get(id(windows))
        if found is None:
            found = same.get(windows)
            if found is None:
                found = same[windows] = timeline(windows, start, limit)
            timelines[id(windows)] = found
        cand = Candidate(asset, items, item_patches, duration, rollback, approval, found)
        key = (id(found), cand.need)
        fits_once = fits.get(key)
        if fits_once is None:
            fits_once = fits[key] = found.next_fit(start, cand.need, limit) is not None
        if not fits_once:
            out[name] = (Rule.WINDOW, no_window_text(asset, duration, rollback, start, limit))
            continue
        candidates[name] = cand

    _resolve_dependencies(assets, with_items, candidates, holds, out)
    for name, (rule, reason) in out.items():
        for item in included.get(name, []):
            exclusions.append(Left(name, item.patch_id, rule, reason, rule is not Rule.DECISION))
    rank = {(i.asset, i.patch_id): n for n, i in enumerate(plan.items)}
    exclusions.sort(key=lambda e: rank.get((e.asset, e.patch_id), -1))
    ordered = {n: candidates[n] for n in included if n in candidates}
    return Triage(ordered, [holds[n] for n in included if n in holds], exclusions)


def _resolve_dependencies(
    assets: dict[str, Asset],
    with_items: set[str],
    candidates: dict[str, Candidate],
    holds: dict[str, Hold],
    out: dict[str, tuple[Rule, str]],
) -> None:
    """Honour `depends_on` among hosts that have something to deploy: a host whose dependency is left out
    (no window, a cycle, its own dependency) is left out, one whose dependency is held (an approval) is
    held, and hosts in a cycle are left out. A dependency with nothing to deploy in this rollout (no plan
    item, or every item exempt, blocked or deferred) is not waited for, as it does not change; the
    placement says so. Mutates the arguments."""
    idle = {n for n, (rule, _) in out.items() if rule is Rule.DECISION}  # nothing to deploy
    deps: dict[str, list[str]] = {}
    for n in with_items:
        if not assets[n].depends_on:
            deps[n] = []
            continue
        declared = [d for d in dict.fromkeys(assets[n].depends_on) if d != n]
        deps[n] = [d for d in declared if d in with_items and d not in idle]
        if n in candidates:
            candidates[n].not_waited = [
                f"dependency {d} has nothing to deploy in this rollout ({out[d][1]}): not waited for"
                if d in idle
                else f"dependency {d} has no item in the plan: not waited for"
                for d in declared
                if d not in deps[n]
            ]
    dependents: dict[str, list[str]] = {n: [] for n in with_items}
    for name, ds in deps.items():
        for d in ds:
            dependents[d].append(name)
    pending = {n: len(ds) for n, ds in deps.items()}
    queue = deque(sorted(n for n, c in pending.items() if c == 0))
    while queue:
        name = queue.popleft()
        if name not in out and name not in holds:
            for d in deps[name]:
                if d in out:
                    out[name] = (
                        Rule.DEPENDENCY,
                        f"depends on {d}, which is not in this rollout: {out[d][1]}",
                    )
                    break
            else:
                held = next((d for d in deps[name] if d in holds), None)
                if held is not None and name in candidates:
                    held_items = tuple(i.patch_id for i in candidates[name].items)
                    holds[name] = Hold(
                        asset=name,
                        patch_ids=held_items,
                        rule=Rule.DEPENDENCY,
                        reason=f"depends on {held}, held: {holds[held].reason}",
                        release=holds[held].release,
                    )
        if name in out or name in holds:
            candidates.pop(name, None)
        elif name in candidates:
            candidates[name].deps = [d for d in deps[name] if d in candidates]
        for nxt in dependents[name]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                queue.append(nxt)
    for name in sorted(n for n, c in pending.items() if c > 0):
        cycle = _cycle_from(name, deps, pending)
        rule = Rule.DEPENDENCY_CYCLE if name in cycle else Rule.DEPENDENCY
        text = " -> ".join([*cycle, cycle[0]])
        out[name] = (
            rule,
            f"dependency cycle {text}"
            if rule is Rule.DEPENDENCY_CYCLE
            else f"depends on a dependency cycle {text}",
        )
        candidates.pop(name, None)
        holds.pop(name, None)


def _cycle_from(name: str, deps: dict[str, list[str]], pending: dict[str, int]) -> list[str]:
    path: list[str] = []
    seen: dict[str, int] = {}
    node = name
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(d for d in deps[node] if pending[d] > 0)
    return path[seen[node] :]
