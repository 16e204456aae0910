"""The streamed content hash (models/canonical_stream.py) writes exactly the reference RFC 8785 text."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plan_helpers import lab_inputs
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer
from test_plan_hash import NOW, rich_plan

from otorchestrator.models import canonical_stream
from otorchestrator.models.canonical import CanonicalJSONError, content_hash, finite_content_hash, jcs_bytes
from otorchestrator.models.canonical_stream import model_content_hash, model_jcs_bytes
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.plan import Plan, trusted
from otorchestrator.planning.plan import build_plan

UNHASHED = frozenset({"content_hash"})


def expected(model: BaseModel, exclude: frozenset[str] = frozenset()) -> bytes:
    """The reference: the model's JSON dump through the pure RFC 8785 writer."""
    return jcs_bytes(model.model_dump(mode="json", exclude=set(exclude)))


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Leaf(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    score: float | None = None
    count: int = 0


class LeafPlus(Leaf):
    extra_field: str = "dropped when declared as Leaf"


class Other(BaseModel):
    model_config = ConfigDict(frozen=True)

    when: datetime
    at: time = time(2, 30)
    day: date = date(2026, 3, 1)


class Renamed(BaseModel):
    """Not plain: an alias and a serializer; written through its own dump."""

    model_config = ConfigDict(frozen=True)

    value: float = Field(serialization_alias="Value")
    note: str = ""

    @field_serializer("note")
    def _upper(self, note: str) -> str:
        return note.upper()


class Computed(BaseModel):
    model_config = ConfigDict(frozen=True)

    base: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> float:
        return self.base * 2


class Tree(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    level: float
    colour: Colour = Colour.RED
    kind: Literal["a", "b"] = "a"
    flag: bool = False
    leaves: tuple[Leaf, ...] = ()
    listed: list[Leaf] = Field(default_factory=list)
    best: Leaf | None = None
    mixed: tuple[Leaf | Other, ...] = ()
    words: tuple[str, ...] = ()
    table: dict[str, float] = Field(default_factory=dict)
    renamed: tuple[Renamed, ...] = ()
    computed: Computed | None = None


class Forest(BaseModel):
    model_config = ConfigDict(frozen=True)

    trees: tuple[Tree, ...]
    leaves: tuple[Leaf, ...] = ()
    title: str = ""
    hash_me_not: str = ""


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6)  # no lone surrogates
LEAVES = st.builds(Leaf, text=TEXT, score=st.none() | FLOATS, count=st.integers(-(2**53) + 1, 2**53 - 1))


@st.composite
def forests(draw: st.DrawFn) -> Forest:
    pool = draw(st.lists(LEAVES, min_size=1, max_size=4))  # shared objects: the writer caches by identity
    pick = st.sampled_from(pool)
    sub = draw(st.booleans())
    trees = draw(
        st.lists(
            st.builds(
                Tree,
                name=TEXT,
                level=FLOATS,
                colour=st.sampled_from(Colour),
                kind=st.sampled_from(["a", "b"]),
                flag=st.booleans(),
                leaves=st.lists(pick, max_size=3).map(tuple),
                listed=st.lists(pick, max_size=2),
                best=st.none() | pick | st.just(LeafPlus(text="sub", score=1.0)) if sub else st.none() | pick,
                mixed=st.lists(
                    pick | st.builds(Other, when=st.datetimes(timezones=st.just(UTC))), max_size=2
                ).map(tuple),
                words=st.lists(TEXT, max_size=3).map(tuple),
                table=st.dictionaries(TEXT, FLOATS, max_size=3),
                renamed=st.lists(st.builds(Renamed, value=FLOATS, note=TEXT), max_size=2).map(tuple),
                computed=st.none() | st.builds(Computed, base=st.floats(-1e300, 1e300)),
            ),
            max_size=4,
        )
    )
    return Forest(trees=tuple(trees), leaves=tuple(draw(st.lists(pick, max_size=3))), title=draw(TEXT))


@settings(max_examples=300, deadline=None)
@given(forests())
def test_equals_the_reference_writer_on_random_models(forest: Forest) -> None:
    assert model_jcs_bytes(forest) == expected(forest)
    assert model_jcs_bytes(forest, frozenset({"title"})) == expected(forest, frozenset({"title"}))


def test_supplementary_characters_in_member_names_sort_by_utf16_units() -> None:
    # U+10000 is after U+FFFF by code point, before it by UTF-16 unit (RFC 8785 section 3.2.3)
    tree = Tree(name="t", level=1.0, table={"\U00010000": 1.0, "\uffff": 2.0, "a": 0.5})
    forest = Forest(trees=(tree,))
    assert model_jcs_bytes(forest) == expected(forest)
    assert model_jcs_bytes(forest).index("\U00010000".encode()) < model_jcs_bytes(forest).index(
        "\uffff".encode()
    )


def test_floats_are_spelled_as_ecmascript_writes_them() -> None:
    leaves = tuple(Leaf(text=str(v), score=v) for v in (7.0, 1e-05, 1e21, -0.0, 1e16, 3.5, 5e-324))
    forest = Forest(trees=(Tree(name="t", level=3.0, leaves=leaves),), leaves=leaves)
    text = model_jcs_bytes(forest)
    assert text == expected(forest)
    assert b'"level":3,' in text and b'"score":0.00001,' in text and b'"score":1e+21,' in text


def test_chunk_boundaries() -> None:
    size = canonical_stream.CHUNK * 2 + 1
    forest = Forest(trees=(), leaves=tuple(Leaf(text=f"l{i}", score=i / 2) for i in range(size)))
    assert model_jcs_bytes(forest) == expected(forest)
    for n in (0, 1, canonical_stream.CHUNK, canonical_stream.CHUNK + 1):
        part = Forest(trees=(), leaves=forest.leaves[:n])
        assert model_jcs_bytes(part) == expected(part)


def test_what_has_no_canonical_form_is_refused() -> None:
    with pytest.raises(CanonicalJSONError):
        model_jcs_bytes(Forest(trees=(), leaves=(Leaf(text="x", count=2**60),)))
    with pytest.raises(CanonicalJSONError):  # a NaN that validation did not see (built without it)
        model_jcs_bytes(Forest(trees=(), leaves=(trusted(Leaf, text="x", score=math.nan, count=0),)))


def test_a_plan_hashes_as_its_json_dump() -> None:
    plan = rich_plan()
    assert plan.assets and plan.items and plan.approvals and plan.inputs
    assert model_jcs_bytes(plan, UNHASHED) == expected(plan, UNHASHED)
    catalog = Catalog(source="half", patches=lab_inputs().catalog.patches[::2])
    unpatched = build_plan(lab_inputs(catalog=catalog), NOW)
    assert unpatched.unpatched and unpatched.items
    assert model_jcs_bytes(unpatched, UNHASHED) == expected(unpatched, UNHASHED)
    dumped = plan.model_dump(mode="json", exclude=set(UNHASHED))
    assert model_content_hash(plan, UNHASHED) == content_hash(dumped) == finite_content_hash(dumped)
    sealed = plan.sealed()
    assert sealed.content_hash == content_hash(dumped)
    assert Plan.model_validate_json(sealed.model_dump_json()).compute_hash() == sealed.content_hash


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic warns about the mistyped value
def test_a_value_that_is_not_its_declared_type_is_written_as_the_dump_writes_it() -> None:
    # built without validation: a float in an int field, an int in a str field
    odd = (trusted(Leaf, text="x", score=None, count=3.0), trusted(Leaf, text=7, score=2.0, count=1))
    forest = Forest(trees=(Tree(name="t", level=1.0, leaves=odd),), leaves=odd)
    assert model_jcs_bytes(forest) == expected(forest)
    assert b'"count":3,' in model_jcs_bytes(forest)


def test_many_distinct_nested_values() -> None:
    # more distinct values than the identity cache keeps for one field (it stops caching), some repeated
    shared = (Leaf(text="shared", score=0.5),)
    trees = tuple(
        Tree(name=f"t{i}", level=2.0, leaves=shared if i % 3 == 0 else (Leaf(text=f"l{i}", score=i * 0.1),))
        for i in range(canonical_stream.CHUNK * 3)
    )
    forest = Forest(trees=trees)
    assert model_jcs_bytes(forest) == expected(forest)


@pytest.mark.parametrize(("every", "caching"), [(2, True), (10, False)])
def test_the_identity_cache_stops_only_where_values_rarely_repeat(every: int, caching: bool) -> None:
    # one value in `every` is a shared one: half of them repeat (kept: main's writer stopped caching after
    # 512 misses whatever the hits), one in ten (under 1 in 8: stops); the text is the reference either way
    shared = (Leaf(text="shared", score=0.5),)
    trees = tuple(  # not validated: validation would copy the shared tuple
        Tree.model_construct(
            name=f"t{i}", level=2.0, leaves=shared if i % every == 0 else (Leaf(text=f"l{i}", score=i * 0.1),)
        )
        for i in range(canonical_stream.CHUNK * 4)
    )
    writer = canonical_stream._Writer()
    shape = writer.shape(Tree)
    text = b",".join(
        writer.rows(shape, trees[start : start + canonical_stream.CHUNK])[1:-1]
        for start in range(0, len(trees), canonical_stream.CHUNK)
    )
    assert next(f for f in shape.nested if f.name == "leaves").caching is caching
    assert b"[" + text + b"]" == jcs_bytes([t.model_dump(mode="json") for t in trees])
