from __future__ import annotations

import itertools

import pytest

from otorchestrator.planning.ssvc import (
    COORDINATOR,
    DEPLOYER,
    HUMAN_IMPACT,
    TableError,
    load_table,
    parse_table,
)


def test_deployer_table_is_complete() -> None:
    table = load_table(DEPLOYER)
    assert table.inputs == ("Exploitation", "System Exposure", "Automatable", "Human Impact")
    domains = [table.values(p) for p in table.inputs]
    assert len(table.rows) == 72 == len(list(itertools.product(*domains)))
    assert set(table.rows.values()) == {"defer", "scheduled", "out-of-cycle", "immediate"}
    values = {
        "Exploitation": "active",
        "System Exposure": "open",
        "Automatable": "yes",
        "Human Impact": "very high",
    }
    assert table.lookup(values) == "immediate"
    values = {"Exploitation": "none", "System Exposure": "small", "Automatable": "no", "Human Impact": "low"}
    assert table.lookup(values) == "defer"


def test_other_tables() -> None:
    human = load_table(HUMAN_IMPACT)
    assert human.lookup({"Safety Impact": "catastrophic", "Mission Impact": "degraded"}) == "very high"
    assert len(load_table(COORDINATOR).rows) == 36


def test_lookup_errors_name_the_table() -> None:
    table = load_table(DEPLOYER)
    with pytest.raises(TableError, match="missing decision point"):
        table.lookup({"Exploitation": "none"})
    with pytest.raises(TableError, match="no row"):
        table.lookup(
            {"Exploitation": "x", "System Exposure": "open", "Automatable": "yes", "Human Impact": "low"}
        )


def test_parse_table_rejects_bad_csv() -> None:
    with pytest.raises(ValueError, match="header"):
        parse_table("t.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="line 3"):
        parse_table("t.csv", "row,A v1.0.0,Out v1.0.0\n0,x,y\n1,x\n")
