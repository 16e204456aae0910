"""Readable cases: the lab plan, and one rule at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from otorchestrator.models.asset import Criticality, OneOffWindow, RecurringWindow, Role
from otorchestrator.models.plan import Decision
from otorchestrator.models.policy import FailureBudgetPolicy, WavePolicy
from otorchestrator.models.waves import Rule, WavePlan
from otorchestrator.planning.waves import stage_waves

from ._build import NOW, approval, asset, lab_plan, patch, plan

LAB = WavePolicy(
    max_hosts_per_wave=3, max_hosts_per_zone_per_wave=2, failure_budget=FailureBudgetPolicy(hosts=1)
)


def names(wp: WavePlan) -> list[list[str]]:
    return [[h.name for h in w.hosts] for w in wp.waves]


def test_lab_canary_first_then_ascending_risk() -> None:
    wp = stage_waves(lab_plan((approval("nw-scada-a"), approval("nw-scada-b"))), LAB, NOW)
    # the high-criticality SCADA servers are never canaries (default canary.max_criticality: medium):
    # their combination is a canary gap, and its first host goes alone in its wave
    assert names(wp) == [
        ["nw-hmi-02", "nw-gw-01", "nw-hist-01"],
        ["nw-hmi-01"],
        ["nw-scada-a"],
        ["nw-scada-b"],
    ]
    assert [w.name for w in wp.waves] == ["canary", "wave-1", "wave-2", "wave-3"]
    assert wp.waves[0].hosts[0].placement_rule is Rule.CANARY
    gap = {g.combination: g.reason for g in wp.canary_gaps}
    assert "above the canary maximum medium" in gap["scada_server/debian/SCADA"]
    assert "no canary covers scada_server/debian/SCADA" in wp.waves[2].hosts[0].placement_reason
    assert wp.waves[3].hosts[0].waits_for == ("nw-scada-a",)
    assert "redundancy group scada-ab" in wp.waves[3].hosts[0].placement_reason
    assert all(w.failure_budget == 1 for w in wp.waves)
    assert wp.content_hash == wp.compute_hash()
    assert wp.plan_hash == lab_plan((approval("nw-scada-a"), approval("nw-scada-b"))).content_hash


def test_lab_holds_unapproved_safety_and_high() -> None:
    wp = stage_waves(lab_plan(), LAB, NOW)
    held = {h.asset: h for h in wp.holds}
    assert set(held) == {"nw-scada-a", "nw-scada-b", "nw-sis-01"}
    assert "safety system" in held["nw-sis-01"].reason
    assert '"nw-sis-01"' in held["nw-sis-01"].release


def test_policy_approval_releases_a_hold() -> None:
    policy = LAB.model_copy(update={"approvals": (approval("nw-sis-01"),)})
    wp = stage_waves(lab_plan(), policy, NOW)
    host = next(h for w in wp.waves for h in w.hosts if h.name == "nw-sis-01")
    assert host.approval is not None and host.approval.approved_by == "alice"


def test_blocked_exempt_deferred_stay_out_with_reasons() -> None:
    wp = stage_waves(lab_plan(), LAB, NOW)
    out = {(e.asset, e.patch_id): e for e in wp.exclusions}
    assert out[("nw-ews-01", "ENG")].rule is Rule.DECISION
    assert "blocked" in out[("nw-ews-01", "ENG")].reason
    assert "defer" in out[("nw-hmi-02", "DRILL")].reason
    assert not any(e.infeasible for e in wp.exclusions)


def test_deferred_included_when_policy_says_so() -> None:
    policy = LAB.model_copy(update={"include_decisions": (Decision.SCHEDULED, Decision.DEFER)})
    wp = stage_waves(lab_plan(), policy, NOW)
    hmi02 = next(h for w in wp.waves for h in w.hosts if h.name == "nw-hmi-02")
    assert hmi02.patch_ids == ("HMI", "DRILL")
    assert hmi02.duration_minutes == 20 and hmi02.rollback_minutes == 20


def test_redundancy_pair_split_and_ordered() -> None:
    a = [asset(f"s{i}", redundancy_group="pair") for i in range(3)]
    wp = stage_waves(
        plan(a, [patch("P")], [(x.name, "P") for x in a]), WavePolicy(canary={"enabled": False}), NOW
    )
    assert names(wp) == [["s0"], ["s1"], ["s2"]]
    assert wp.waves[1].hosts[0].placement_rule is Rule.REDUNDANCY
    assert wp.waves[2].hosts[0].waits_for == ("s1",)


def test_zone_and_wave_caps() -> None:
    a = [asset(f"h{i}", zone="z1" if i < 4 else "z2") for i in range(6)]
    policy = WavePolicy(max_hosts_per_wave=3, max_hosts_per_zone_per_wave=2, canary={"enabled": False})
    wp = stage_waves(plan(a, [patch("P")], [(x.name, "P") for x in a]), policy, NOW)
    assert names(wp) == [["h0", "h1", "h4"], ["h2", "h3", "h5"]]
    assert {h.placement_rule for h in wp.waves[1].hosts} == {Rule.ZONE_CAP, Rule.WAVE_CAP}


def test_dependency_goes_first_even_from_a_higher_tier() -> None:
    hist = asset("hist", role=Role.HISTORIAN, criticality=Criticality.MEDIUM)
    hmi = asset("hmi", depends_on=("hist",))
    p = plan([hist, hmi], [patch("P")], [("hmi", "P"), ("hist", "P")])
    with_canary = stage_waves(p, WavePolicy(), NOW)
    assert [[h.name for h in w.hosts] for w in with_canary.waves] == [["hist"], ["hmi"]]  # hist is the canary
    assert "after hist (canary), its dependency, verified" in with_canary.waves[1].hosts[0].placement_reason
    wp = stage_waves(p, WavePolicy(canary={"enabled": False}), NOW)  # hmi's tier (low) comes first
    order = wp.host_waves()
    assert order["hist"] < order["hmi"]
    hmi_host = next(h for w in wp.waves for h in w.hosts if h.name == "hmi")
    assert hmi_host.placement_rule is Rule.DEPENDENCY and hmi_host.waits_for == ("hist",)


@pytest.mark.parametrize("decision", [Decision.BLOCKED, Decision.EXEMPT, Decision.DEFER])
def test_dependency_with_nothing_to_deploy_is_not_waited_for(decision: Decision) -> None:
    """A historian whose every item is blocked / exempt / deferred does not change in this rollout: its
    clients go ahead as if it had no item (before, they were excluded as infeasible for ever)."""
    hist = asset("hist", role=Role.HISTORIAN)
    hmi = asset("hmi", depends_on=("hist",))
    p = plan([hist, hmi], [patch("P"), patch("H")], [("hist", "H", decision), ("hmi", "P")])
    wp = stage_waves(p, WavePolicy(), NOW)
    placed = {h.name: h for w in wp.waves for h in w.hosts}
    assert set(placed) == {"hmi"} and placed["hmi"].waits_for == ()
    assert "dependency hist has nothing to deploy in this rollout" in placed["hmi"].placement_reason
    assert "not waited for" in placed["hmi"].placement_reason
    assert [(e.asset, e.rule) for e in wp.exclusions] == [("hist", Rule.DECISION)]
    assert not wp.infeasible


def test_dependency_without_plan_items_is_not_waited_for() -> None:
    hist = asset("hist", role=Role.HISTORIAN)
    hmi = asset("hmi", depends_on=("hist",))
    wp = stage_waves(plan([hist, hmi], [patch("P")], [("hmi", "P")]), WavePolicy(), NOW)
    (host,) = [h for w in wp.waves for h in w.hosts]
    assert host.name == "hmi" and host.waits_for == ()
    assert "dependency hist has no item in the plan: not waited for" in host.placement_reason


def test_held_dependency_holds_its_client() -> None:
    """A dependency waiting for an approval will deploy once approved: its client waits with it."""
    hist = asset("hist", role=Role.HISTORIAN, criticality=Criticality.HIGH)
    hmi = asset("hmi", depends_on=("hist",))
    p = plan([hist, hmi], [patch("P"), patch("H")], [("hist", "H"), ("hmi", "P")])
    wp = stage_waves(p, WavePolicy(), NOW)
    assert not wp.waves
    holds = {h.asset: h for h in wp.holds}
    assert holds["hist"].rule is Rule.APPROVAL
    assert holds["hmi"].rule is Rule.DEPENDENCY
    assert holds["hmi"].reason.startswith("depends on hist, held: ")
    assert "approval" in holds["hmi"].reason and holds["hmi"].release == holds["hist"].release


def test_dependency_without_a_window_excludes_its_client() -> None:
    """A dependency that has something to deploy but no window is not relaxed away: its client stays
    out too, saying which dependency and why."""
    hist = asset("hist", role=Role.HISTORIAN, maintenance_windows=())
    hmi = asset("hmi", depends_on=("hist",))
    p = plan([hist, hmi], [patch("P"), patch("H")], [("hist", "H"), ("hmi", "P")])
    wp = stage_waves(p, WavePolicy(), NOW)
    out = {e.asset: e for e in wp.exclusions}
    assert out["hist"].rule is Rule.WINDOW
    assert out["hmi"].rule is Rule.DEPENDENCY and out["hmi"].infeasible
    reason = out["hmi"].reason
    assert reason.startswith("depends on hist, which is not in this rollout: no maintenance window")


def test_dependency_cycle_is_reported() -> None:
    a = asset("a", depends_on=("b",))
    b = asset("b", depends_on=("a",))
    wp = stage_waves(plan([a, b], [patch("P")], [("a", "P"), ("b", "P")]), WavePolicy(), NOW)
    assert {e.rule for e in wp.exclusions} == {Rule.DEPENDENCY_CYCLE}
    assert "a -> b -> a" in wp.exclusions[0].reason


def test_window_too_short_excludes_with_reason() -> None:
    short = RecurringWindow(days=("sun",), start="02:00", duration_minutes=15)
    a = asset("short", maintenance_windows=(short,))
    wp = stage_waves(plan([a], [patch("P", minutes=10)], [("short", "P")]), WavePolicy(), NOW)
    assert not wp.waves
    (ex,) = wp.exclusions
    assert ex.rule is Rule.WINDOW and ex.infeasible and "20 min" in ex.reason


def test_waits_for_the_next_window_and_records_it() -> None:
    later = OneOffWindow(start=NOW + timedelta(hours=5), end=NOW + timedelta(hours=7))
    a = [asset("now"), asset("later", maintenance_windows=(later,))]
    policy = WavePolicy(canary={"enabled": False}, tier_keys=0)
    wp = stage_waves(plan(a, [patch("P")], [("now", "P"), ("later", "P")]), policy, NOW)
    assert names(wp) == [["now"], ["later"]]
    host = wp.waves[1].hosts[0]
    assert wp.waves[1].slot_start == later.start
    assert host.placement_rule is Rule.WINDOW
    assert host.window_start == later.start and host.latest_start == later.end - timedelta(minutes=20)


def test_no_window_means_excluded() -> None:
    a = asset("none", maintenance_windows=())
    wp = stage_waves(plan([a], [patch("P")], [("none", "P")]), WavePolicy(), NOW)
    assert "no maintenance window declared" in wp.exclusions[0].reason


def test_unknown_asset_in_plan_is_reported() -> None:
    wp = stage_waves(plan([asset("a")], [patch("P")], [("ghost", "P"), ("a", "P")]), WavePolicy(), NOW)
    assert wp.exclusions[0].rule is Rule.UNKNOWN


def test_percent_budget_rounds_down() -> None:
    a = [asset(f"h{i:02}", zone=f"z{i}") for i in range(10)]
    policy = WavePolicy(failure_budget={"percent": 25}, canary={"enabled": False})
    wp = stage_waves(plan(a, [patch("P")], [(x.name, "P") for x in a]), policy, NOW)
    assert wp.waves[0].failure_budget == 2


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        stage_waves(lab_plan(), LAB, NOW.replace(tzinfo=None))


def test_round_trip_json() -> None:
    wp = stage_waves(lab_plan((approval("nw-scada-a"),)), LAB, NOW)
    again = WavePlan.model_validate_json(wp.model_dump_json())
    assert again == wp and again.compute_hash() == wp.content_hash


def test_wave_plan_hash_is_the_canonical_text_hash() -> None:
    from otorchestrator.models.plan import content_hash

    wp = stage_waves(lab_plan((approval("nw-scada-a"), approval("nw-scada-b"))), LAB, NOW)
    assert wp.content_hash == content_hash(wp.model_dump(mode="json", exclude={"content_hash"}))
    assert WavePlan.model_validate_json(wp.model_dump_json()).compute_hash() == wp.content_hash
