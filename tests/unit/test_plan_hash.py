"""The plan's content hash: the fast (orjson) writer gives exactly the RFC 8785 text; older plans verify."""

from __future__ import annotations

import gc
import math
from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plan_helpers import NWC, asset, lab_assets, lab_inputs
from pydantic import ValidationError

from otorchestrator.models.advisory import Score
from otorchestrator.models.asset import OneOffWindow, RecurringWindow
from otorchestrator.models.canonical import finite_jcs_bytes, jcs, legacy_content_hash
from otorchestrator.models.plan import (
    Approval,
    Plan,
    PlanItem,
    UnpatchedFinding,
    canonical_json,
    content_hash,
    trusted,
)
from otorchestrator.planning.plan import build_plan

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
UNHASHED = frozenset({"content_hash"})


def reference(plan: Plan) -> str:
    return jcs(plan.model_dump(mode="json", exclude={"content_hash"}))


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


def test_fast_writer_writes_the_reference_text() -> None:
    plan = rich_plan()
    assert plan.items and plan.unmatched_products and plan.approvals
    data = plan.model_dump(mode="json", exclude={"content_hash"})
    assert finite_jcs_bytes(data).decode() == reference(plan)
    assert plan.compute_hash() == content_hash(data)
    assert plan.sealed().content_hash.startswith("jcs-sha256:")


def test_a_plan_sealed_before_rfc_8785_still_verifies() -> None:
    plan = rich_plan()
    data = plan.model_dump(mode="json", exclude={"content_hash"})
    old = plan.model_copy(update={"content_hash": legacy_content_hash(data)})
    assert old.content_hash.startswith("sha256:") and canonical_json(data) != jcs(data)  # floats differ
    assert old.compute_hash() == old.content_hash
    tampered = old.model_copy(update={"warnings": ("x",)})
    assert tampered.compute_hash() != old.content_hash
    assert old.sealed().content_hash == plan.sealed().content_hash  # re-sealing writes the current form
    unknown = plan.model_copy(update={"content_hash": "md5:" + legacy_content_hash(data)[7:]})
    assert unknown.compute_hash() != unknown.content_hash


def test_round_trip_keeps_equality_and_hash() -> None:
    sealed = rich_plan().sealed()
    back = Plan.model_validate_json(sealed.model_dump_json())
    assert back == sealed
    assert back.compute_hash() == sealed.content_hash
    assert reference(back) == reference(sealed)


@pytest.mark.parametrize(
    "data",
    [
        {"tiny": 1.2e-05, "h": "sha256:3e4f"},  # json.dumps: 1.2e-05, orjson: 0.000012
        {"small": [6.1e-07, -1e-5]},
        {"big": 2**70},  # orjson refuses
        {1: "int key"},  # orjson refuses
        {"lone": "\ud800"},  # orjson refuses
        {"text that looks like a number": ":1e5,", "large": 1e16, "v": 7.8, "p": 3.5},
    ],
)
def test_fast_writer_falls_back_where_orjson_could_differ(data: object) -> None:
    try:
        expected: bytes | type[Exception] = jcs(data).encode()
    except ValueError as exc:  # no RFC 8785 form: both writers refuse
        expected = type(exc)
    if isinstance(expected, bytes):
        assert finite_jcs_bytes(data) == expected
    else:
        with pytest.raises(expected):
            finite_jcs_bytes(data)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53) + 1, 2**53 - 1)
        | st.text()
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )
)
def test_fast_writer_equals_the_reference_for_finite_data(data: object) -> None:
    try:
        expected = jcs(data).encode()
    except ValueError:  # a lone surrogate: no RFC 8785 form
        with pytest.raises(ValueError):
            finite_jcs_bytes(data)
        return
    assert finite_jcs_bytes(data) == expected


def test_plan_floats_refuse_nan_and_infinity() -> None:
    # the fast writer would write NaN as null: a plan can hold no such value
    for bad in (math.nan, math.inf):
        with pytest.raises(ValidationError):
            Score(version="3.1", base_score=bad, vector=None)
        with pytest.raises(ValidationError):
            PlanItem.model_validate({**rich_plan().items[0].model_dump(), "cvss_max": bad})


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


def test_trusted_equals_a_validated_model() -> None:
    values = {
        "asset": "a",
        "vendor": "v",
        "product": "p",
        "version": "1",
        "cves": ("CVE-1",),
        "advisories": ("ADV",),
        "remediation": "",
        "provenance": (),
        "matched_rules": ("ADV CSAFPID-1 'p' (version text '<2'): version 1 in <2",),
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
