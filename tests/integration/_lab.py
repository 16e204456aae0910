"""What the lab tests share: the lab fixture's availability check and a hand-staged wave host."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from otorchestrator.lab.handle import lab_unavailable_reason
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch as CatalogPatch
from otorchestrator.models.plan import Decision
from otorchestrator.models.waves import Rule, WaveHost, WaveItem


def require_lab() -> None:
    """Skip when this machine cannot run the lab; in CI, where the lab tests must run, fail instead."""
    reason = lab_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the lab tests, but the lab is unavailable: {reason}")
        pytest.skip(reason)


def lab_wave_host(
    name: str, asset: Asset, patch: CatalogPatch, now: datetime, reason: str, *, cves: tuple[str, ...] = ()
) -> WaveHost:
    """`name` in a hand-staged wave plan: the facts of inventory `asset`, one scheduled item of `patch`, a
    window open from an hour before `now` to 20 hours after (latest start one hour before its end)."""
    return WaveHost(
        name=name, zone=asset.zone, purdue_level=asset.purdue_level, role=asset.role,
        criticality=asset.criticality, safety_system=asset.safety_system,
        redundancy_group=asset.redundancy_group,
        items=(WaveItem(patch_id=patch.id, priority_rank=1, decision=Decision.SCHEDULED, cves=cves),),
        duration_minutes=patch.expected_duration_minutes, rollback_minutes=patch.rollback_minutes,
        window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=20),
        latest_start=now + timedelta(hours=19), placement_rule=Rule.RISK_ORDER, placement_reason=reason,
    )  # fmt: skip
