"""The 42-host, two-site plant of tests/fixtures/plant42 staged with the default policy (issue 14, "Must
show"): no safety system in a canary; every KEV item in its first safe window; every placement's stated
cause checked by removing that constraint and seeing the host move earlier."""

from __future__ import annotations

from datetime import timedelta

import pytest

from otorchestrator.models.asset import AnyTimeWindow
from otorchestrator.models.plan import Plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule, WaveHost, WavePlan
from otorchestrator.planning.waves import stage_waves

from .plant42 import NOW, plant_plan
from .test_stage_properties import check_invariants

DEFAULT = WavePolicy()


def staged(plan: Plan | None = None, policy: WavePolicy = DEFAULT) -> WavePlan:
    return stage_waves(plan or plant_plan(), policy, NOW)


def hosts(wp: WavePlan) -> dict[str, WaveHost]:
    return {h.name: h for w in wp.waves for h in w.hosts}


def start_of(wp: WavePlan, name: str) -> tuple[int, object]:
    wave = wp.waves[wp.host_waves()[name]]
    return wave.index, wave.slot_start


def test_the_plant_is_what_the_fixture_says() -> None:
    plan = plant_plan()
    assets = plan.asset_map()
    assert len(assets) == 42 and {a.site for a in assets.values()} == {"plant-north", "pumpstation-east"}
    assert sum(a.safety_system for a in assets.values()) == 2
    groups = {a.redundancy_group for a in assets.values() if a.redundancy_group}
    assert groups == {"n-gw-pair", "n-scada-pair", "e-scada-pair"}
    kev = {i.asset for i in plan.items if i.in_kev}
    assert kev == {"n-gw-01", "n-gw-02", "e-gw-01", "e-gw-02"}
    assert all(isinstance(assets[n].maintenance_windows[0], AnyTimeWindow) for n in kev)
    exempt = {(i.asset, i.exemption.id, i.exemption.expired) for i in plan.items if i.exemption}
    assert exempt == {("n-hmi-a2", "EX-2026-042", False), ("n-hmi-b3", "EX-2025-031", True)}
    assert {i.asset for i in plan.items if i.decision.value == "blocked"} == {
        "n-hist-01",
        "n-hist-02",
        "e-hist-01",
    }


def test_staged_with_the_default_policy() -> None:
    wp = staged()
    check_invariants(plant_plan(), DEFAULT, wp, NOW)
    canaries = [h for w in wp.waves if w.kind == "canary" for h in w.hosts]
    assert canaries and not any(h.safety_system for h in canaries)  # no safety system in a canary
    placed = hosts(wp)
    assert "n-sis-01" in placed and placed["n-sis-01"].approval is not None  # approved: staged, not a canary
    assert [h.asset for h in wp.holds] == ["e-sis-01"]  # no approval: held
    assert "no canary covers hmi/debian 12/NWC-P-2026-0103" in placed["n-sis-01"].placement_reason
    out = {(e.asset, e.patch_id): e for e in wp.exclusions}
    assert out[("n-hmi-a2", "NWC-P-2026-0103")].exemption is not None  # the active exemption, with controls
    assert "blocked" in out[("n-hist-01", "NWC-P-2026-0102")].reason  # the untested historian patch


def test_every_kev_item_is_in_its_first_safe_window() -> None:
    """First safe window: the first moment its own constraints (its combination's canary, redundancy
    predecessor, dependencies, approval) are released and its window holds it."""
    plan = plant_plan()
    wp = staged()
    placed = hosts(wp)
    kev = sorted({i.asset for i in plan.items if i.in_kev})
    for name in kev:
        host = placed[name]
        released = [NOW, *(wp.waves[wp.host_waves()[o]].slot_end for o in host.waits_for)]
        _, slot = start_of(wp, name)
        assert slot == max(released), name  # any-time windows: the moment it is released
        assert host.urgent and Rule.RISK_TIER not in [c.rule for c in host.constraints]
    urgent_slots = [start_of(wp, n)[1] for n in kev]
    first_regular = min(w.slot_start for w in wp.waves if not all(h.urgent for h in w.hosts))
    assert max(urgent_slots) < first_regular  # before the rest of the plant, not a week later


def _remove(plan: Plan, policy: WavePolicy, name: str, rule: Rule) -> tuple[Plan, WavePolicy]:
    """The plan and policy without one constraint of host `name`."""
    asset = plan.asset_map()[name]
    if rule is Rule.WINDOW:
        asset = asset.model_copy(update={"maintenance_windows": (AnyTimeWindow(any_time=True),)})
    elif rule is Rule.REDUNDANCY:
        asset = asset.model_copy(update={"redundancy_group": None})
    elif rule is Rule.DEPENDENCY:
        asset = asset.model_copy(update={"depends_on": ()})
    elif rule is Rule.RISK_TIER:
        return plan, policy.model_copy(update={"tier_keys": 0})
    elif rule is Rule.CANARY:  # canaries, and the canary gaps' first hosts alone
        return plan, policy.model_copy(update={"canary": policy.canary.model_copy(update={"enabled": False})})
    elif rule in (Rule.WAVE_CAP, Rule.ZONE_CAP):
        return plan, policy.model_copy(update={"max_hosts_per_wave": 100, "max_hosts_per_zone_per_wave": 100})
    else:
        raise AssertionError(f"{name}: no removal written for rule {rule}")
    assets = tuple(asset if a.name == name else a for a in plan.assets)
    return plan.model_copy(update={"assets": assets}), policy


def bound_hosts() -> list[str]:
    return sorted(n for n, h in hosts(staged()).items() if h.constraints)


@pytest.mark.parametrize("name", bound_hosts())
def test_the_stated_cause_binds(name: str) -> None:
    """Remove the binding constraint (with those that released at the same moment, which the placement
    names with it) and the host starts earlier."""
    plan, policy = plant_plan(), DEFAULT
    wp = staged(plan)
    host = hosts(wp)[name]
    binding = [c for c in host.constraints if c.releases_at == host.constraints[0].releases_at]
    for constraint in binding:
        plan, policy = _remove(plan, policy, name, constraint.rule)
    after = stage_waves(plan, policy, NOW)
    assert name in hosts(after), name
    assert start_of(after, name)[1] < start_of(wp, name)[1], (
        name,
        host.placement_rule,
        host.placement_reason,
    )


def test_every_rule_shown_is_exercised() -> None:
    rules = {hosts(staged())[n].placement_rule for n in bound_hosts()}
    assert rules >= {Rule.CANARY, Rule.REDUNDANCY, Rule.WINDOW, Rule.RISK_TIER}, rules


def test_times_are_local_with_their_zone_and_utc_in_json() -> None:
    wp = staged()
    placed = hosts(wp)
    assert "America/Chicago" in placed["e-gw-01"].placement_reason
    assert "Europe/Berlin" in placed["n-gw-01"].placement_reason
    assert placed["e-gw-01"].timezone == "America/Chicago"
    for host in placed.values():
        for c in host.constraints:
            assert c.releases_at.utcoffset() == timedelta(0)
    assert '"releases_at":"2026-11-21T18:20:00Z"' in wp.model_dump_json()
