"""The plan's content hash: the fast canonical walker writes exactly the text of the model_dump reference."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, time

from plan_helpers import NWC, asset, lab_assets, lab_inputs

from otorchestrator.models.asset import OneOffWindow, RecurringWindow
from otorchestrator.models.plan import (
    Approval,
    DecisionPoint,
    Plan,
    PlanItem,
    UnpatchedFinding,
    canonical_json,
    content_hash,
    fast_canonical_json,
    fast_content_hash,
    trusted,
)
from otorchestrator.planning.plan import build_plan

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
UNHASHED = frozenset({"content_hash"})


def reference(plan: Plan) -> str:
    return canonical_json(plan.model_dump(mode="json", exclude={"content_hash"}))


def rich_plan() -> Plan:
    """Lab plan with approvals, an override, windows, input hashes, odd strings and an unpatched product."""
    windows = (
        RecurringWindow(days=("sat",), start=time(2, 30), duration_minutes=90, timezone="Europe/Berlin"),
        OneOffWindow(start=NOW, end=datetime(2026, 3, 11, 8, 0, tzinfo=UTC)),
    )
    odd = asset('odd "ü" \\ \n\t name', (NWC, "NWC Historian", "1.0.0"), ("Acme", "Widget", "3"))
    assets = (
        *(
            a.model_copy(update={"maintenance_windows": windows}) if a.name == "nw-hist-01" else a
            for a in lab_assets()
        ),
        odd,
        *(asset(f"hmi-{n:02d}", (NWC, "NWC HMI Runtime", "1.0.0"), zone="cell-a-control") for n in range(40)),
    )
    approvals = (
        Approval(kind="asset", subject="nw-scada-a", approved_by="ops", reason="window ✓", at=NOW),
        Approval(kind="unqualified_patch", subject="NWC-P-2026-0105", approved_by="eng", reason="r", at=NOW),
    )
    inputs = lab_inputs(assets=assets, approvals=approvals, input_hashes=(("inventory", "ab"), ("kev", "cd")))
    return build_plan(inputs, NOW)


def test_walker_writes_the_reference_text() -> None:
    plan = rich_plan()
    assert plan.items and plan.unmatched_products and plan.approvals
    assert plan._shares_values()  # a fresh plan with repeated profiles takes the walker
    assert fast_canonical_json(plan, UNHASHED) == reference(plan)
    expected = content_hash(plan.model_dump(mode="json", exclude={"content_hash"}))
    assert plan.compute_hash() == fast_content_hash(plan, UNHASHED) == expected


def test_round_trip_keeps_equality_and_hash_on_both_routes() -> None:
    sealed = rich_plan().sealed()
    back = Plan.model_validate_json(sealed.model_dump_json())
    assert back == sealed
    assert not back._shares_values()  # a plan read back shares nothing: the dump route
    assert back.compute_hash() == sealed.content_hash
    assert fast_canonical_json(back, UNHASHED) == reference(back) == reference(sealed)


def test_any_change_changes_the_hash() -> None:
    plan = rich_plan()
    first = plan.items[0]
    changed = plan.model_copy(
        update={"items": (first.model_copy(update={"reasons": (*first.reasons, "x")}), *plan.items[1:])}
    )
    assert changed.compute_hash() != plan.compute_hash()
    assert plan.model_copy(update={"created_at": datetime(2026, 3, 10, tzinfo=UTC)}).compute_hash() != (
        plan.compute_hash()
    )


def test_int_in_a_float_field_is_written_as_pydantic_writes_it() -> None:
    plan = rich_plan()
    item = PlanItem.model_construct(**{**dict(plan.items[0]), "cvss_max": 7})
    odd = plan.model_copy(update={"items": (item, *plan.items[1:])})
    assert fast_canonical_json(odd, UNHASHED) == reference(odd)


def test_a_model_of_another_class_falls_back_to_the_dump() -> None:
    class Special(DecisionPoint):
        extra_field: str = "not serialized as a DecisionPoint field"

    plan = rich_plan()
    first = plan.items[0]
    special = Special(name="CVE", value="v", source="s")
    odd = plan.model_copy(update={"items": (first.model_copy(update={"explanation": (special,)}),)})
    assert fast_canonical_json(odd, UNHASHED) is None
    assert odd.compute_hash() == content_hash(odd.model_dump(mode="json", exclude={"content_hash"}))


def test_trusted_equals_a_validated_model() -> None:
    values = {
        "asset": "a",
        "vendor": "v",
        "product": "p",
        "version": "1",
        "cves": ("CVE-1",),
        "advisories": ("ADV",),
        "remediation": "",
    }
    built = trusted(UnpatchedFinding, **values)
    assert built == UnpatchedFinding(**values)  # type: ignore[arg-type]
    assert built.model_dump() == UnpatchedFinding.model_validate(values).model_dump()
    assert built.model_fields_set == set(values)


def test_build_plan_restores_the_collector_state() -> None:
    assert gc.isenabled()
    build_plan(lab_inputs(), NOW)
    assert gc.isenabled()
    gc.disable()
    try:
        build_plan(lab_inputs(), NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()
