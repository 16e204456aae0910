"""Urgent items (immediate / out_of_cycle) take the earliest safe wave, and every placement names the
constraint that binds it, with the time it releases, in the asset's local time. Each test here failed on
main before urgency-aware staging (issue 14 item 2)."""

from __future__ import annotations

from datetime import timedelta

from otorchestrator.models.asset import AnyTimeWindow, Criticality, OneOffWindow, RecurringWindow, Role
from otorchestrator.models.plan import Approval, Decision
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule, WaveHost, WavePlan
from otorchestrator.planning.waves import stage_waves

from ._build import NOW, approval, asset, patch, plan

ANY = AnyTimeWindow(any_time=True, timezone="Europe/Berlin")
SMALL = WavePolicy(max_hosts_per_wave=2, max_hosts_per_zone_per_wave=2)


def placed(wp: WavePlan) -> dict[str, tuple[int, WaveHost]]:
    return {h.name: (w.index, h) for w in wp.waves for h in w.hosts}


def gateway_plant() -> tuple[list, list, list]:  # type: ignore[type-arg]
    """Six low HMIs in three combinations (canaries of their own), two DMZ gateways open around the
    clock, one of them KEV-listed and immediate."""
    hmis = [
        asset(f"hmi-{n}", zone=f"cell-{n % 3}", os={"family": "debian", "version": str(10 + n % 3)})
        for n in range(6)
    ]
    gws = [
        asset(
            f"gw-{n}",
            zone="dmz",
            purdue_level=3.5,
            role=Role.GATEWAY,
            criticality=Criticality.MEDIUM,
            maintenance_windows=(ANY,),
        )
        for n in range(2)
    ]
    items = [(h.name, "HMI") for h in hmis] + [
        ("gw-0", "GW", Decision.SCHEDULED),
        ("gw-1", "GW", Decision.IMMEDIATE),
    ]
    return [*hmis, *gws], [patch("HMI"), patch("GW")], items


def test_urgent_gateway_follows_its_own_canary_not_the_others() -> None:
    """Before: the KEV gateway waited behind every canary wave and the low tier ("risk order")."""
    hosts, patches, items = gateway_plant()
    wp = stage_waves(plan(hosts, patches, items), SMALL, NOW)
    where = placed(wp)
    canary_gw, (urgent_index, urgent) = where["gw-0"], where["gw-1"]
    assert canary_gw[1].canary_covers == ("gateway/debian/GW",)
    assert urgent.urgent and urgent_index == canary_gw[0] + 1  # the very next wave after its canary
    later_canaries = [w.index for w in wp.waves if w.kind == "canary" and w.index > urgent_index]
    assert later_canaries  # unrelated canaries still to come: it did not wait for them
    assert all(i > urgent_index for n, (i, h) in where.items() if n.startswith("hmi") and not h.canary_covers)
    assert urgent.placement_rule is Rule.CANARY and urgent.constraints[0].hosts == ("gw-0",)
    assert urgent.waits_for == ("gw-0",)
    assert urgent.placement_reason.startswith("urgent (immediate)")
    gw0_wave = wp.waves[canary_gw[0]]
    assert urgent.constraints[0].releases_at == gw0_wave.slot_end
    berlin = gw0_wave.slot_end + timedelta(hours=1)  # CET in November
    assert f"verified {berlin:%a %Y-%m-%d %H:%M} Europe/Berlin" in urgent.placement_reason


def test_urgent_high_host_does_not_wait_for_lower_tiers() -> None:
    low = [asset(f"low-{n}", zone=f"z{n}") for n in range(6)]
    scada = asset("scada", zone="sup", role=Role.SCADA_SERVER, criticality=Criticality.HIGH)
    items = [(h.name, "HMI") for h in low] + [("scada", "SCADA", Decision.OUT_OF_CYCLE)]
    wp = stage_waves(
        plan([*low, scada], [patch("HMI"), patch("SCADA")], items, (approval("scada"),)), SMALL, NOW
    )
    index, host = placed(wp)["scada"]
    assert index == 0 and host.urgent  # a canary gap (high is above the canary maximum): its own first host
    assert "no canary covers scada_server/debian/SCADA" in host.placement_reason
    assert wp.waves[0].hosts == (host,)  # alone in its wave


def test_tier_not_window_when_the_tiers_passed_the_free_window() -> None:
    """Before: "its maintenance window holds it from ..." (rule window), when the free window at the start
    was passed over because the lower tier came first."""
    early_and_late = (
        RecurringWindow(days=("sun",), start="02:00", duration_minutes=60),
        RecurringWindow(days=("sun",), start="12:00", duration_minutes=60),
    )
    low = [asset(f"low-{n}", zone="cell") for n in range(6)]
    scada = asset(
        "scada",
        zone="sup",
        role=Role.SCADA_SERVER,
        criticality=Criticality.HIGH,
        maintenance_windows=early_and_late,
    )
    items = [(h.name, "HMI") for h in low] + [("scada", "SCADA")]
    policy = WavePolicy(max_hosts_per_wave=2, canary={"enabled": False})
    wp = stage_waves(
        plan([*low, scada], [patch("HMI", 30), patch("SCADA")], items, (approval("scada"),)), policy, NOW
    )
    _, host = placed(wp)["scada"]
    assert host.placement_rule is Rule.RISK_TIER
    assert [c.rule for c in host.constraints] == [Rule.RISK_TIER, Rule.WINDOW]
    assert "after the lower risk tiers (its tier: criticality high), verified Sun 2026-11-22 05:00 UTC" in (
        host.placement_reason
    )
    assert "then its maintenance window opens Sun 2026-11-22 12:00 UTC" in host.placement_reason


def test_each_host_it_waits_for_is_named_once() -> None:
    """Before: "after its dependency hist (wave-1); after dependencies hist (wave-1), ..."."""
    hist = asset("hist", role=Role.HISTORIAN)
    ews = asset("ews", role=Role.ENGINEERING_WORKSTATION)
    hmi = asset("hmi", depends_on=("hist", "ews"))
    p = plan([hist, ews, hmi], [patch("P")], [("hist", "P"), ("ews", "P"), ("hmi", "P")])
    _, host = placed(stage_waves(p, WavePolicy(canary={"enabled": False}, tier_keys=0), NOW))["hmi"]
    for name in ("hist", "ews"):
        assert host.placement_reason.count(name) == 1, host.placement_reason
    assert "dependencies" not in host.placement_reason


def test_a_later_dated_approval_binds_with_its_time() -> None:
    sis = asset(
        "sis", criticality=Criticality.CRITICAL, safety_system=True, zone="sis", maintenance_windows=(ANY,)
    )
    later = Approval(
        kind="asset", subject="sis", approved_by="board", reason="CB-9", at=NOW + timedelta(hours=30)
    )
    wp = stage_waves(
        plan([sis], [patch("SIS")], [("sis", "SIS", Decision.IMMEDIATE)], (later,)), WavePolicy(), NOW
    )
    _, host = placed(wp)["sis"]
    assert wp.waves[0].slot_start == later.at
    assert host.placement_rule is Rule.APPROVAL and host.constraints[0].releases_at == later.at
    reason = host.placement_reason
    assert "approved by board; its approval is dated Mon 2026-11-23 09:00 Europe/Berlin" in reason


def test_urgent_host_waits_for_its_dependency_and_pair() -> None:
    hist = asset("hist", role=Role.HISTORIAN, criticality=Criticality.MEDIUM, zone="ops")
    a = asset("scada-a", role=Role.SCADA_SERVER, redundancy_group="ab", zone="sup")
    b = asset("scada-b", role=Role.SCADA_SERVER, redundancy_group="ab", zone="sup", depends_on=("hist",))
    items = [("hist", "H"), ("scada-a", "S", Decision.IMMEDIATE), ("scada-b", "S", Decision.IMMEDIATE)]
    wp = stage_waves(plan([hist, a, b], [patch("H"), patch("S")], items), WavePolicy(), NOW)
    where = placed(wp)
    assert where["hist"][1].urgent  # the dependency of an urgent host is urgent too
    assert where["scada-b"][0] > max(where["hist"][0], where["scada-a"][0])
    assert set(where["scada-b"][1].waits_for) == {"scada-a", "hist"}


def test_urgent_host_alone_next_is_not_delayed_by_a_longer_host_that_is_not_urgent() -> None:
    """The property test's counterexample (2026-12-03): urgent h02, which no canary covers, goes alone in the
    wave after urgent h01's; before, h06 (not urgent, 140 min) joined h01's wave and h02 started when h06
    could end, 2 h later. A host that is not urgent still joins when it does not make that wave end later
    (h07)."""
    late = (OneOffWindow(start=NOW + timedelta(hours=5), end=NOW + timedelta(hours=12)),)
    canary = asset("c", zone="z0")
    h01 = asset("h01", zone="z1", maintenance_windows=late)
    h02 = asset(
        "h02", zone="z2", role=Role.SCADA_SERVER, criticality=Criticality.HIGH, maintenance_windows=late
    )
    h06 = asset("h06", zone="z3", maintenance_windows=late)
    h07 = asset("h07", zone="z4", maintenance_windows=late)
    items = [
        ("c", "HMI"),
        ("c", "LONG"),
        ("h01", "HMI", Decision.IMMEDIATE),
        ("h02", "SCADA", Decision.IMMEDIATE),
        ("h06", "HMI"),
        ("h06", "LONG"),
        ("h07", "HMI"),
    ]
    patches = [patch("HMI", 10), patch("SCADA", 10), patch("LONG", 60)]
    policy = WavePolicy(max_hosts_per_wave=3, max_hosts_per_zone_per_wave=2)
    wp = stage_waves(plan([canary, h01, h02, h06, h07], patches, items, (approval("h02"),)), policy, NOW)
    where = placed(wp)
    first = wp.waves[where["h01"][0]]
    assert [h.name for h in first.hosts] == ["h01", "h07"]
    assert first.slot_end == first.slot_start + timedelta(minutes=20)  # h01's and h07's 10 + 10 min
    index, urgent = where["h02"]
    assert index == first.index + 1 and wp.waves[index].hosts == (urgent,)
    assert wp.waves[index].slot_start == first.slot_end
    later_index, later = where["h06"]
    assert later_index > index and not later.urgent
    assert [c.rule for c in later.constraints] == [Rule.WINDOW, Rule.RISK_ORDER]
    assert "urgent h02 goes alone in the next wave: its 140 min" in later.placement_reason
