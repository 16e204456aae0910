"""Canary selection: never a safety system, never above canary.max_criticality (default medium); a
combination only such hosts cover is a canary gap with its reason, and its first host goes alone."""

from __future__ import annotations

from otorchestrator.models.asset import Criticality, Role
from otorchestrator.models.policy import WavePolicy
from otorchestrator.planning.waves import stage_waves

from ._build import NOW, approval, asset, patch, plan


def _plant() -> tuple[list, list]:  # type: ignore[type-arg]
    hosts = [
        asset("sis-01", role=Role.HMI, criticality=Criticality.CRITICAL, safety_system=True, purdue_level=1),
        asset("sis-02", role=Role.HMI, criticality=Criticality.LOW, safety_system=True, zone="sis"),
        *[asset(f"hmi-{n}", role=Role.HMI, criticality=Criticality.LOW, zone=f"z{n}") for n in range(3)],
        *[
            asset(f"scada-{n}", role=Role.SCADA_SERVER, criticality=Criticality.HIGH, zone=f"s{n}")
            for n in range(4)
        ],
    ]
    return hosts, [patch("HMI"), patch("SCADA"), patch("SISFW")]


def test_approved_safety_system_is_never_a_canary() -> None:
    hosts, patches = _plant()
    kind = {Role.SCADA_SERVER: "SCADA", Role.HMI: "HMI"}
    items = [(h.name, "SISFW" if h.safety_system else kind[h.role]) for h in hosts]
    approvals = tuple(approval(h.name) for h in hosts if h.safety_system or h.criticality.rank >= 2)
    wp = stage_waves(plan(hosts, patches, items, approvals), WavePolicy(), NOW)
    canaries = [h for w in wp.waves if w.kind == "canary" for h in w.hosts]
    assert canaries and not any(h.safety_system for h in canaries)
    assert all(h.criticality.rank <= Criticality.MEDIUM.rank for h in canaries)
    placed = {h.name for w in wp.waves for h in w.hosts}
    assert {"sis-01", "sis-02"} <= placed  # approved: staged, only not as canaries
    gaps = {g.combination: g.reason for g in wp.canary_gaps}
    assert "sis-02: a safety system is never a canary" in gaps["hmi/debian/SISFW"]


def test_gap_is_reported_and_its_first_host_goes_alone() -> None:
    hosts, patches = _plant()
    items = [(h.name, "SCADA") for h in hosts if h.role is Role.SCADA_SERVER]
    wp = stage_waves(plan(hosts, patches, items, tuple(approval(h.name) for h in hosts)), WavePolicy(), NOW)
    assert [g.combination for g in wp.canary_gaps] == ["scada_server/debian/SCADA"]
    assert "criticality high is above the canary maximum medium" in wp.canary_gaps[0].reason
    assert "and 1 more" in wp.canary_gaps[0].reason  # four hosts, three reasons shown
    first = wp.waves[0]
    assert first.kind == "wave" and [h.name for h in first.hosts] == ["scada-0"]
    assert "no canary covers scada_server/debian/SCADA" in first.hosts[0].placement_reason
    assert len(wp.waves[1].hosts) > 1  # the rest of the combination follows, wave caps apply again


def test_no_limit_keeps_the_old_choice() -> None:
    hosts, patches = _plant()
    items = [(h.name, "SCADA") for h in hosts if h.role is Role.SCADA_SERVER]
    policy = WavePolicy(canary={"max_criticality": None})
    wp = stage_waves(plan(hosts, patches, items, tuple(approval(h.name) for h in hosts)), policy, NOW)
    assert wp.waves[0].kind == "canary" and not wp.canary_gaps
