"""Invariants of wave staging over generated inventories, plans and policies (hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otorchestrator.models.asset import (
    Asset,
    Criticality,
    MaintenanceWindow,
    OneOffWindow,
    OperatingSystem,
    RecurringWindow,
    Role,
    window_remaining,
)
from otorchestrator.models.plan import Decision, Plan, PlanItem
from otorchestrator.models.policy import CanaryPolicy, FailureBudgetPolicy, RiskKey, WavePolicy
from otorchestrator.models.waves import Rule, Wave, WaveHost, WavePlan
from otorchestrator.planning.waves import stage_waves
from otorchestrator.planning.waves.canary import combination
from otorchestrator.planning.waves.triage import Candidate, risk_key
from otorchestrator.planning.waves.windows import timeline

from ._build import NOW, approval, patch

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PATCHES = [
    patch("P1", 10),
    patch("P2", 30, rollback=15),
    patch("P3", 60),
    patch("P4", 5, reboot_required=True),
]

recurring = st.builds(
    RecurringWindow,
    days=st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True).map(tuple),
    start=st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    duration_minutes=st.sampled_from([30, 60, 120, 240, 480, 1440]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/Chicago"]),
)
one_off = st.builds(
    lambda h, d: OneOffWindow(start=NOW + timedelta(hours=h), end=NOW + timedelta(hours=h, minutes=d)),
    st.integers(-3, 100),
    st.sampled_from([20, 45, 90, 300]),
)
windows = st.lists(st.one_of(recurring, one_off), min_size=0, max_size=2).map(tuple)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    n = draw(st.integers(1, 30))
    names = [f"h{i:02}" for i in range(n)]
    assets = []
    for i, name in enumerate(names):
        always = draw(st.booleans())
        win: tuple[MaintenanceWindow, ...] = (
            (RecurringWindow(days=DAYS, start=time(0, 0), duration_minutes=1440),)
            if always
            else draw(windows)
        )
        deps = (
            draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
            if draw(st.integers(0, 4)) == 0
            else []
        )
        assets.append(
            Asset(
                name=name,
                site="s",
                zone=draw(st.sampled_from(["z1", "z2", "z3", "z4"])),
                purdue_level=draw(st.sampled_from([1, 2, 3, 3.5, 4])),
                role=draw(st.sampled_from([Role.HMI, Role.HISTORIAN, Role.GATEWAY, Role.SCADA_SERVER])),
                criticality=draw(st.sampled_from(list(Criticality))),
                safety_system=draw(st.integers(0, 9)) == 0,
                redundancy_group=draw(st.sampled_from([None, None, "ga", "gb", "gc"])),
                maintenance_windows=win,
                os=OperatingSystem(family="debian", version=draw(st.sampled_from(["11", "12"]))),
                depends_on=tuple(d for d in deps if draw(st.booleans()) or names.index(d) < i),
            )
        )
    items = []
    for a in assets:
        for p in draw(st.lists(st.sampled_from(PATCHES), min_size=0, max_size=3, unique_by=lambda p: p.id)):
            items.append((a.name, p.id, draw(st.sampled_from(list(Decision)))))
    draw(st.randoms()).shuffle(items)
    plan_items = tuple(
        PlanItem(asset=a, patch_id=p, cves=(), decision=d, priority_rank=r)
        for r, (a, p, d) in enumerate(items, start=1)
    )
    approved = draw(st.lists(st.sampled_from(names), unique=True, max_size=n))
    return Plan(
        created_at=NOW,
        assets=tuple(assets),
        patches=tuple(PATCHES),
        items=plan_items,
        approvals=tuple(approval(x) for x in approved),
    ).sealed()


policies = st.builds(
    WavePolicy,
    risk_order=st.permutations(list(RiskKey)).map(tuple),
    tier_keys=st.integers(0, 2),
    max_hosts_per_wave=st.integers(1, 6),
    max_hosts_per_zone_per_wave=st.integers(1, 3),
    include_decisions=st.sampled_from(
        [
            (Decision.IMMEDIATE, Decision.OUT_OF_CYCLE, Decision.SCHEDULED),
            (Decision.IMMEDIATE, Decision.SCHEDULED, Decision.DEFER),
        ]
    ),
    approval_from_criticality=st.sampled_from([None, Criticality.HIGH, Criticality.MEDIUM]),
    gap_minutes=st.sampled_from([0, 5, 30]),
    start_delay_minutes=st.sampled_from([0, 10]),
    host_overhead_minutes=st.sampled_from([0, 5]),
    horizon_hours=st.sampled_from([6, 48, 168]),
    failure_budget=st.sampled_from([FailureBudgetPolicy(hosts=1), FailureBudgetPolicy(percent=50)]),
    canary=st.builds(
        CanaryPolicy,
        enabled=st.booleans(),
        max_criticality=st.sampled_from([None, Criticality.MEDIUM]),
    ),
)


def check_invariants(plan: Plan, policy: WavePolicy, wp: WavePlan, now: datetime = NOW) -> None:
    assets = plan.asset_map()
    patches = plan.patch_map()
    where = wp.host_waves()
    hosts = {h.name: h for w in wp.waves for h in w.hosts}

    # every planned item placed exactly once, held, or excluded with a reason
    seen: Counter[tuple[str, str]] = Counter()
    for host in hosts.values():
        seen.update((host.name, i.patch_id) for i in host.items)
    for hold in wp.holds:
        assert hold.reason and hold.release
        seen.update((hold.asset, p) for p in hold.patch_ids)
    for ex in wp.exclusions:
        assert ex.reason
        seen[(ex.asset, ex.patch_id)] += 1
    assert seen == Counter((i.asset, i.patch_id) for i in plan.items)
    assert sum(len(w.hosts) for w in wp.waves) == len(hosts)  # a host is in one wave only

    # placed items are allowed by the plan's decision and the policy, in plan order
    rank = {(i.asset, i.patch_id): i for i in plan.items}
    for host in hosts.values():
        decisions = [rank[(host.name, i.patch_id)].decision for i in host.items]
        assert all(d in policy.include_decisions for d in decisions)
        ranks = [i.priority_rank for i in host.items]
        assert ranks == sorted(ranks)

    gap = timedelta(minutes=policy.gap_minutes)
    start = now + timedelta(minutes=policy.start_delay_minutes)
    limit = now + timedelta(hours=policy.horizon_hours)
    previous_end = None
    for index, wave in enumerate(wp.waves):
        assert wave.index == index and wave.hosts
        # caps
        assert len(wave.hosts) <= policy.max_hosts_per_wave
        zones = Counter(h.zone for h in wave.hosts)
        assert max(zones.values()) <= policy.max_hosts_per_zone_per_wave
        # redundancy pairs never share a wave
        groups = [h.redundancy_group for h in wave.hosts if h.redundancy_group]
        assert len(groups) == len(set(groups))
        # slots in order, back to back or later
        assert start <= wave.slot_start <= limit
        if previous_end is not None:
            assert wave.slot_start >= previous_end + gap
        previous_end = wave.slot_end
        for host in wave.hosts:
            need = timedelta(minutes=host.duration_minutes + host.rollback_minutes)
            expected = sum(patches[i.patch_id].expected_duration_minutes for i in host.items)
            assert host.duration_minutes == expected + policy.host_overhead_minutes
            assert host.rollback_minutes == sum(patches[i.patch_id].rollback_minutes for i in host.items)
            # the window (checked with the model's own arithmetic) holds duration + rollback
            assert window_remaining(assets[host.name].maintenance_windows, wave.slot_start) >= need
            assert wave.slot_end >= wave.slot_start + need
            assert host.window_start <= wave.slot_start <= host.latest_start
            # approvals
            asset = assets[host.name]
            if policy.needs_approval(asset.criticality, asset.safety_system):
                assert host.approval is not None and host.approval.subject == host.name
            assert host.placement_reason

    # redundancy: later members wait for the previous member
    by_group: dict[str, list[str]] = {}
    for wave in wp.waves:
        for host in wave.hosts:
            if host.redundancy_group:
                earlier = by_group.setdefault(host.redundancy_group, [])
                if earlier:
                    assert earlier[-1] in host.waits_for
                earlier.append(host.name)

    # dependencies with something to deploy go first, in an earlier wave; one with plan items but none
    # deployable (exempt, blocked, a decision the policy leaves out) is not waited for, and the placement
    # says so
    with_items = {i.asset for i in plan.items}
    deployable = {i.asset for i in plan.items if i.decision in policy.include_decisions}
    for name, host in hosts.items():
        for dep in assets[name].depends_on:
            if dep in deployable and dep != name:
                assert dep in where and where[dep] < where[name], (name, dep)
            elif dep in with_items and dep != name:
                assert dep not in host.waits_for, (name, dep)
                assert f"dependency {dep} has nothing to deploy" in host.placement_reason, (name, dep)

    # canary waves come before every wave holding a host that is not urgent (urgent hosts may go between
    # canary waves, after their own combination's canary) and cover every combination, or say why not
    kinds = [w.kind for w in wp.waves]
    last_canary = max((w.index for w in wp.waves if w.kind == "canary"), default=-1)
    for wave in wp.waves:
        if wave.kind == "wave" and any(not h.urgent for h in wave.hosts):
            assert wave.index > last_canary, wave.name
    if policy.canary.enabled:

        def combos(name: str) -> set[str]:
            cand = Candidate(
                assets[name], [rank[(name, i.patch_id)] for i in hosts[name].items], [], 0, 0, None, None
            )  # type: ignore[arg-type]
            return {combination(cand, item, policy.canary.cover) for item in cand.items}

        canaries = [h for w in wp.waves if w.kind == "canary" for h in w.hosts]
        ceiling = policy.canary.max_criticality
        for canary in canaries:  # never a safety system, never above the canary maximum
            assert not canary.safety_system, canary.name
            assert ceiling is None or canary.criticality.rank <= ceiling.rank, canary.name
        covered = set().union(*(combos(h.name) for h in canaries))
        gaps = {g.combination for g in wp.canary_gaps}
        for wave in wp.waves:
            for host in wave.hosts:
                assert combos(host.name) <= covered | gaps
    else:
        assert "canary" not in kinds

    # ascending risk tiers, except a host that follows a dependency from a higher tier
    if policy.tier_keys:

        def tier(name: str) -> tuple[float, ...]:
            items = [rank[(name, i.patch_id)] for i in hosts[name].items]
            cand = Candidate(assets[name], items, [], 0, 0, None, None)  # type: ignore[arg-type]
            return risk_key(cand, policy.risk_order)[: policy.tier_keys]

        regular = [(where[n], tier(n), n) for n in hosts if wp.waves[where[n]].kind == "wave"]
        highest: tuple[float, ...] | None = None
        for _, t, n in sorted(regular):
            if hosts[n].urgent:
                continue  # urgent hosts are in no tier: they take the earliest safe wave
            if highest is not None and t < highest:
                assert assets[n].depends_on, n
            highest = t if highest is None or t > highest else highest

    check_constraints(plan, policy, wp, now)
    assert wp.content_hash == wp.compute_hash()
    assert wp.plan_hash == plan.content_hash


MINUTE = timedelta(minutes=1)
CAPS = (Rule.WAVE_CAP, Rule.ZONE_CAP)


def check_constraints(plan: Plan, policy: WavePolicy, wp: WavePlan, now: datetime = NOW) -> None:
    """No item waits for a constraint that does not bind it: every stated constraint is true (the host
    named is verified in an earlier wave at the stated time, a window really opens then), the binding one
    really pushed the host past the first slot its windows give it, and an urgent host is in the first
    wave that its own constraints allow (its canaries, dependencies, redundancy predecessor, approval time
    and window), unless that wave had no room for it (caps, a member of its group, a host alone)."""
    assets = plan.asset_map()
    where = wp.host_waves()
    start = now + timedelta(minutes=policy.start_delay_minutes)
    limit = now + timedelta(hours=policy.horizon_hours)
    for wave in wp.waves:
        for host in wave.hosts:
            need = timedelta(minutes=host.need_minutes)
            windows = assets[host.name].maintenance_windows
            rules = [c.rule for c in host.constraints]
            default = Rule.CANARY if host.canary_covers else Rule.RISK_ORDER
            assert host.placement_rule is (rules[0] if rules else default), host.name
            assert len(set(host.placement_reason.split("; "))) == len(host.placement_reason.split("; "))
            for c in host.constraints:
                assert c.releases_at.utcoffset() == timedelta(0)  # UTC in JSON
                assert c.releases_at <= wave.slot_start, (host.name, c)
                for other in c.hosts:  # a canary, dependency or group member, verified in an earlier wave
                    assert other in host.waits_for
                    assert where[other] < wave.index
                    assert wp.waves[where[other]].slot_end == c.releases_at
                if (
                    c.rule is Rule.WINDOW
                ):  # the window opens then: it holds the host then, not a minute before
                    assert window_remaining(windows, c.releases_at) >= need, (host.name, c)
                    assert window_remaining(windows, c.releases_at - MINUTE) < need, (host.name, c)
                if c.rule is Rule.APPROVAL:
                    assert host.approval is not None and host.approval.at == c.releases_at
            if host.constraints and host.constraints[0].rule not in (Rule.WINDOW, *CAPS):
                first = timeline(windows, start, limit).next_fit(start, need, limit)
                assert first is not None and window_remaining(windows, first.slot) >= need
                assert first.slot < host.constraints[0].releases_at, (host.name, host.constraints[0])
            if host.urgent:
                check_urgent(policy, wp, host, wave, windows, start, limit)


def check_urgent(
    policy: WavePolicy,
    wp: WavePlan,
    host: WaveHost,
    wave: Wave,
    windows: tuple[MaintenanceWindow, ...],
    start: datetime,
    limit: datetime,
) -> None:
    where = wp.host_waves()
    need = timedelta(minutes=host.need_minutes)
    assert Rule.RISK_TIER not in [c.rule for c in host.constraints], host.name
    assert "after the canary waves" not in host.placement_reason, host.name  # only its own canaries
    released = [start, *(wp.waves[where[o]].slot_end for o in host.waits_for)]
    if host.approval is not None:
        released.append(host.approval.at)
    ready = max(released)
    alone = "alone in its wave" in host.placement_reason
    for earlier in wp.waves[: wave.index]:
        moment = earlier.slot_start
        if moment < ready or moment > limit or window_remaining(windows, moment) < need:
            continue
        # every constraint of its own allowed this wave: it must have had no room for this host
        zone = sum(1 for h in earlier.hosts if h.zone == host.zone)
        group = host.redundancy_group
        room = (
            len(earlier.hosts) < policy.max_hosts_per_wave
            and zone < policy.max_hosts_per_zone_per_wave
            and not any(group is not None and h.redundancy_group == group for h in earlier.hosts)
            and not any("alone in its wave" in h.placement_reason for h in earlier.hosts)
            and (earlier.kind == "canary") == bool(host.canary_covers)  # canary waves hold canaries only
            and not alone
        )
        assert not room, (host.name, earlier.name, wave.name)
        # the hosts that took its room go first: urgent ones, or canaries
        ahead = [h for h in earlier.hosts if h.urgent or h.canary_covers]
        if alone:  # it needs a wave of its own: one that goes first took this one, and only those set its end
            assert ahead, (host.name, earlier.name)
            longest = timedelta(minutes=max(h.need_minutes for h in ahead))
            assert earlier.slot_end == earlier.slot_start + longest, (host.name, earlier.name)
        elif zone >= policy.max_hosts_per_zone_per_wave:
            rivals = [h for h in earlier.hosts if h.zone == host.zone]
            assert all(h.urgent or h.canary_covers for h in rivals), (host.name, earlier.name)
        elif len(earlier.hosts) >= policy.max_hosts_per_wave:
            assert all(h.urgent or h.canary_covers for h in earlier.hosts), (host.name, earlier.name)


# derandomized (a fixed sequence of examples, no example database), so CI's verdict does not depend on the
# seed; randomized runs are done by hand (--hypothesis-seed). One found a counterexample on 2026-12-03,
# fixed since: test_urgency's test_urgent_host_alone_next_is_not_delayed_by_a_longer_host_that_is_not_urgent
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(plans(), policies)
def test_invariants(plan: Plan, policy: WavePolicy) -> None:
    check_invariants(plan, policy, stage_waves(plan, policy, NOW))


@settings(max_examples=30, deadline=None)
@given(plans(), policies)
def test_pure_and_deterministic(plan: Plan, policy: WavePolicy) -> None:
    first = stage_waves(plan, policy, NOW)
    assert stage_waves(plan, policy, NOW) == first
    assert WavePlan.model_validate_json(first.model_dump_json()) == first
