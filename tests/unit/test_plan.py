from __future__ import annotations

from datetime import UTC, datetime

from plan_helpers import NWC, asset, lab_assets, lab_inputs

from otorchestrator.models.asset import Criticality
from otorchestrator.models.plan import Approval, Decision
from otorchestrator.planning.plan import build_plan

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def by_key(plan):
    return {(i.asset, i.patch_id): i for i in plan.items}


def test_lab_plan_spread_and_explanations() -> None:
    plan = build_plan(lab_inputs(), NOW)
    items = by_key(plan)
    assert len(items) == 10
    gw = items[("nw-gw-01", "NWC-P-2026-0104")]
    assert gw.decision is Decision.OUT_OF_CYCLE and gw.in_kev
    points = {p.name: p for p in gw.explanation}
    assert points["Exploitation"].value == "active" and "KEV" in points["Exploitation"].source
    assert points["System Exposure"].value == "open" and "3.5" in points["System Exposure"].source
    assert points["Automatable"].value == "yes" and "AV:N" in points["Automatable"].source
    assert {"Human Impact", "Technical Impact", "Mission and Well-Being Impact", "Deployer Priority"} <= set(
        points
    )
    assert gw.matched_rules and "NWC-SA-2026-04" in gw.matched_rules[0]
    assert items[("nw-hist-01", "NWC-P-2026-0102")].decision is Decision.DEFER
    assert items[("nw-ews-01", "NWC-P-2026-0105")].decision is Decision.BLOCKED
    assert plan.items[0].asset == "nw-gw-01" and [i.priority_rank for i in plan.items] == list(range(1, 11))


def test_exemption_applies_with_controls_and_expired_one_is_flagged() -> None:
    plan = build_plan(lab_inputs(), NOW)
    items = by_key(plan)
    sis = items[("nw-sis-01", "NWC-P-2026-0103")]
    assert sis.decision is Decision.EXEMPT
    assert (
        sis.exemption is not None
        and sis.exemption.id == "EX-2026-001"
        and sis.exemption.compensating_controls
    )
    hmi2 = items[("nw-hmi-02", "NWC-P-2026-0103")]
    assert hmi2.decision is not Decision.EXEMPT
    assert hmi2.exemption is not None and hmi2.exemption.expired
    assert any("EX-2025-014 expired" in r for r in hmi2.reasons)
    assert any("EX-2025-014" in w for w in plan.warnings)
    later = build_plan(lab_inputs(), datetime(2027, 7, 1, tzinfo=UTC))  # EX-2026-001 has expired
    assert by_key(later)[("nw-sis-01", "NWC-P-2026-0103")].decision is not Decision.EXEMPT


def test_override_unblocks_unqualified_patch() -> None:
    approval = Approval(
        kind="unqualified_patch", subject="NWC-P-2026-0105", approved_by="k.ng", reason="bench tested", at=NOW
    )
    plan = build_plan(lab_inputs(approvals=(approval,)), NOW)
    item = by_key(plan)[("nw-ews-01", "NWC-P-2026-0105")]
    assert item.decision.deployable or item.decision is Decision.DEFER
    assert item.override == approval
    assert any("override approved by k.ng" in r for r in item.reasons)
    assert plan.approvals == (approval,)


def test_unpatched_unmatched_and_uninterpretable_are_reported() -> None:
    extra = (
        asset("odd-1", (NWC, "NWC Historian", "1.0.0"), ("Acme", "Widget", "3"), criticality=Criticality.LOW),
    )
    inputs = lab_inputs(assets=lab_assets() + extra)
    catalog = inputs.catalog.model_copy(
        update={"patches": tuple(p for p in inputs.catalog.patches if p.id != "NWC-P-2026-0106")}
    )
    plan = build_plan(lab_inputs(assets=lab_assets() + extra, catalog=catalog), NOW)
    unpatched = {(u.asset, u.product): u for u in plan.unpatched}
    assert ("nw-hmi-02", "NWC Drill Agent") in unpatched
    assert unpatched[("nw-hmi-02", "NWC Drill Agent")].cves == ("CVE-2026-90601",)
    assert "vendor_fix" in unpatched[("nw-hmi-02", "NWC Drill Agent")].remediation
    assert [(u.vendor, u.product, u.assets) for u in plan.unmatched_products] == [("Acme", "Widget", 1)]
    assert any("no patch available" in w for w in plan.warnings)


def test_deterministic_regardless_of_input_order() -> None:
    a = build_plan(lab_inputs(), NOW).sealed()
    b = build_plan(lab_inputs(assets=tuple(reversed(lab_assets()))), NOW).sealed()
    assert a.model_dump_json() == b.model_dump_json()
    assert a.content_hash == b.content_hash and a.content_hash.startswith("jcs-sha256:")


def test_fixed_version_installed_gives_no_item() -> None:
    plan = build_plan(lab_inputs(assets=(asset("x", (NWC, "NWC Historian", "1.1.0")),)), NOW)
    assert plan.items == () and plan.unpatched == ()


def test_asset_approval_note_for_high_criticality() -> None:
    plan = build_plan(lab_inputs(), NOW)
    scada = by_key(plan)[("nw-scada-a", "NWC-P-2026-0101")]
    assert any("needs an asset approval" in r for r in scada.reasons)
    approved = Approval(kind="asset", subject="nw-scada-a", approved_by="ops", reason="window agreed", at=NOW)
    plan = build_plan(lab_inputs(approvals=(approved,)), NOW)
    assert any("asset approval by ops" in r for r in by_key(plan)[("nw-scada-a", "NWC-P-2026-0101")].reasons)
