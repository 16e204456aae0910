"""Small builders for wave-staging tests: assets, patches, plans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from otorchestrator.models.asset import Asset, Criticality, OneOffWindow, RecurringWindow, Role
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Approval, Decision, Plan, PlanItem

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # a Sunday
ALWAYS = RecurringWindow(
    days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"), start="00:00", duration_minutes=1440
)


def asset(name: str, **kw: Any) -> Asset:
    fields: dict[str, Any] = {
        "site": "plant-north",
        "zone": "cell-a",
        "purdue_level": 2,
        "role": Role.HMI,
        "criticality": Criticality.LOW,
        "maintenance_windows": (ALWAYS,),
    }
    fields.update(kw)
    return Asset(name=name, **fields)


def patch(pid: str, minutes: int = 10, rollback: int | None = None, **kw: Any) -> Patch:
    return Patch(
        id=pid,
        vendor="Northwind Controls",
        product=pid,
        package=pid.lower(),
        fixed_version="1.1.0",
        target_version="1.1.0",
        expected_duration_minutes=minutes,
        rollback_duration_minutes=rollback,
        **kw,
    )


def approval(name: str) -> Approval:
    return Approval(kind="asset", subject=name, approved_by="alice", reason="change board CB-7", at=NOW)


def plan(
    assets: list[Asset],
    patches: list[Patch],
    items: list[tuple[str, str] | tuple[str, str, Decision]],
    approvals: tuple[Approval, ...] = (),
) -> Plan:
    plan_items = []
    for rank, entry in enumerate(items, start=1):
        decision = entry[2] if len(entry) == 3 else Decision.SCHEDULED  # type: ignore[misc]
        plan_items.append(
            PlanItem(
                asset=entry[0],
                patch_id=entry[1],
                cves=("CVE-2026-0001",),
                decision=decision,
                priority_rank=rank,
                reasons=("test",),
            )
        )
    return Plan(
        created_at=NOW,
        assets=tuple(assets),
        patches=tuple(patches),
        items=tuple(plan_items),
        approvals=approvals,
    ).sealed()


def lab_plan(approvals: tuple[Approval, ...] = ()) -> Plan:
    """The lab of inventories/lab/hosts.yml with one patch per installed product."""
    a = asset
    assets = [
        a(
            "nw-scada-a",
            zone="supervisory",
            role=Role.SCADA_SERVER,
            criticality="high",
            redundancy_group="scada-ab",
        ),
        a(
            "nw-scada-b",
            zone="supervisory",
            role=Role.SCADA_SERVER,
            criticality="high",
            redundancy_group="scada-ab",
        ),
        a("nw-hist-01", zone="site-operations", purdue_level=3, role=Role.HISTORIAN, criticality="medium"),
        a("nw-hmi-01", zone="cell-a-control", role=Role.HMI, criticality="medium"),
        a("nw-hmi-02", zone="cell-a-control", role=Role.HMI, criticality="low"),
        a(
            "nw-ews-01",
            zone="engineering",
            purdue_level=3,
            role=Role.ENGINEERING_WORKSTATION,
            criticality="medium",
        ),
        a("nw-gw-01", zone="idmz", purdue_level=3.5, role=Role.GATEWAY, criticality="medium"),
        a("nw-sis-01", zone="sis", purdue_level=1, role=Role.HMI, criticality="critical", safety_system=True),
    ]
    patches = [patch(p) for p in ("SCADA", "HIST", "HMI", "GW", "ENG", "DRILL")]
    items: list[tuple[str, str] | tuple[str, str, Decision]] = [
        ("nw-gw-01", "GW"),
        ("nw-scada-a", "SCADA"),
        ("nw-scada-b", "SCADA"),
        ("nw-hist-01", "HIST"),
        ("nw-hmi-01", "HMI"),
        ("nw-hmi-02", "HMI"),
        ("nw-hmi-02", "DRILL", Decision.DEFER),
        ("nw-ews-01", "ENG", Decision.BLOCKED),
        ("nw-ews-01", "DRILL", Decision.DEFER),
        ("nw-sis-01", "HMI"),
    ]
    return plan(assets, patches, items, approvals)


__all__ = ["ALWAYS", "NOW", "OneOffWindow", "approval", "asset", "lab_plan", "patch", "plan"]
