"""The wave plan's content hash (models/waves.py writes assets and waves in one pass each) is the RFC 8785
hash of its JSON dump: the same as the generic streamed writer's and the rfc8785 reference's, on staged plans
and on hosts and assets whose texts and floats are drawn at random; where the one pass could differ it is
not taken."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum
from zoneinfo import ZoneInfo

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from otorchestrator.models import canonical_onepass as onepass
from otorchestrator.models import waves as waves_module
from otorchestrator.models.asset import AnyTimeWindow, OneOffWindow, RecurringWindow
from otorchestrator.models.canonical_stream import model_content_hash
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule, WavePlan
from otorchestrator.planning.waves import stage_waves

from .plant42 import NOW, plant_plan

UNHASHED = frozenset({"content_hash"})
PLANT = stage_waves(plant_plan(), WavePolicy(), NOW)


def reference(wave_plan: WavePlan) -> str:
    text = rfc8785.dumps(wave_plan.model_dump(mode="json", exclude={"content_hash"}))
    return "jcs-sha256:" + hashlib.sha256(text).hexdigest()


def test_a_staged_plan_hashes_as_its_json_dump() -> None:
    assert PLANT.waves and any(h.purdue_level % 1 for w in PLANT.waves for h in w.hosts)
    kinds = {type(w).__name__ for a in PLANT.assets for w in a.maintenance_windows}
    assert kinds == {"RecurringWindow", "AnyTimeWindow"}
    assert waves_module._one_pass(PLANT) is not None  # the one pass is taken
    assert PLANT.content_hash == model_content_hash(PLANT, UNHASHED) == reference(PLANT)
    assert PLANT.compute_hash() == PLANT.content_hash


def test_a_wave_plan_read_back_hashes_the_same() -> None:
    again = WavePlan.model_validate_json(PLANT.model_dump_json())
    assert again.compute_hash() == PLANT.content_hash


TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # escapes, controls, beyond U+FFFF
FLOAT = st.floats(allow_nan=False, allow_infinity=False)
ZONES = st.sampled_from(
    [
        None,
        UTC,
        timezone(timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=-6)),
        ZoneInfo("Europe/Berlin"),
    ]
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    reason=TEXT,
    zone=TEXT,
    purdue=FLOAT,
    rule=st.sampled_from(list(Rule)),
    when=st.datetimes(min_value=datetime(2000, 1, 1), timezones=ZONES),
    budget=st.integers(0, 2**53 - 1),
)
def test_drawn_hosts_hash_as_the_reference(
    reason: str, zone: str, purdue: float, rule: Rule, when: datetime, budget: int
) -> None:
    wave = PLANT.waves[-1]
    first = wave.hosts[0].model_copy(
        update={"placement_reason": reason, "zone": zone, "purdue_level": purdue, "placement_rule": rule}
    )
    changed = wave.model_copy(
        update={"hosts": (first, *wave.hosts[1:]), "slot_start": when, "failure_budget": budget}
    )
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # a one-off window needs an offset
    windows = (
        RecurringWindow(days=("mon",), start=when.timetz(), duration_minutes=90, timezone="Europe/Berlin"),
        OneOffWindow(start=aware, end=aware + timedelta(minutes=budget % 997 + 1)),
        AnyTimeWindow(any_time=True),
    )
    update = {"purdue_level": -purdue, "site": reason, "maintenance_windows": windows}
    asset = PLANT.assets[0].model_copy(update=update)
    wave_plan = PLANT.model_copy(
        update={"waves": (*PLANT.waves[:-1], changed), "assets": (asset, *PLANT.assets[1:])}
    )
    assert wave_plan.compute_hash() == model_content_hash(wave_plan, UNHASHED) == reference(wave_plan)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic: the value is not its declared type
def test_a_value_that_is_not_its_declared_type_goes_the_generic_way() -> None:
    host = PLANT.waves[0].hosts[0].model_copy(update={"duration_minutes": 12.5})  # not validated
    wave = PLANT.waves[0].model_copy(update={"hosts": (host,)})
    wave_plan = PLANT.model_copy(update={"waves": (wave,)})
    assert waves_module._one_pass(wave_plan) is None
    assert wave_plan.compute_hash() == model_content_hash(wave_plan, UNHASHED) == reference(wave_plan)


class Nested(BaseModel):
    score: float


class WithNestedFloat(BaseModel):
    inner: tuple[Nested, ...]
    level: float


class WithDict(BaseModel):
    extra: dict[str, str]


class Level(IntEnum):
    ONE = 1


class WithIntEnum(BaseModel):
    level: Level


def test_the_one_pass_is_refused_where_it_could_differ() -> None:
    assert onepass.float_fields(WithNestedFloat, True) is None  # a float below the host level
    assert onepass.float_fields(WithDict, True) is None  # member names that are not field names
    assert onepass.float_fields(WithIntEnum, True) is None  # orjson writes only string enums as pydantic
    assert onepass.float_fields(Nested, False) is None
    assert onepass.float_fields(Nested, True) == ("score",)
