"""SSVC decision tables loaded from the CERT/CC CSVs shipped in `ssvc_tables/` (package data)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

DEPLOYER = "deployer_patch_application_priority_1_0_0.csv"
HUMAN_IMPACT = "human_impact_1_0_0.csv"
COORDINATOR = "cisa_coordinator_2_0_3.csv"

_VERSION_SUFFIX = re.compile(r"\s+v\d+(?:\.\d+)*(?:\s+\([^)]*\))?$")


def point_name(column: str) -> str:
    """`Exploitation v1.1.0` -> `Exploitation`; `CISA Levels v1.1.0 (cisa)` -> `CISA Levels`."""
    return _VERSION_SUFFIX.sub("", column.strip())


class TableError(KeyError):
    pass


@dataclass(frozen=True)
class DecisionTable:
    name: str
    inputs: tuple[str, ...]  # decision point names, in column order
    outcome: str  # name of the outcome column
    rows: Mapping[tuple[str, ...], str]

    def values(self, point: str) -> tuple[str, ...]:
        """The values a decision point takes in this table, in first-seen order."""
        index = self.inputs.index(point)
        seen: dict[str, None] = {}
        for key in self.rows:
            seen.setdefault(key[index])
        return tuple(seen)

    def lookup(self, values: Mapping[str, str]) -> str:
        missing = [p for p in self.inputs if p not in values]
        if missing:
            raise TableError(f"{self.name}: missing decision point(s) {', '.join(missing)}")
        key = tuple(values[p] for p in self.inputs)
        try:
            return self.rows[key]
        except KeyError:
            raise TableError(f"{self.name}: no row for {dict(zip(self.inputs, key, strict=True))}") from None


def parse_table(name: str, text: str) -> DecisionTable:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    if not header or header[0] != "row" or len(header) < 3:
        raise ValueError(f"{name}: expected a header `row,<decision points...>,<outcome>`")
    columns = [point_name(c) for c in header[1:]]
    rows: dict[tuple[str, ...], str] = {}
    for line, record in enumerate(reader, start=2):
        if not record:
            continue
        if len(record) != len(header):
            raise ValueError(f"{name}: line {line}: expected {len(header)} fields, found {len(record)}")
        values = tuple(v.strip().lower() for v in record[1:])
        rows[values[:-1]] = values[-1]
    return DecisionTable(name=name, inputs=tuple(columns[:-1]), outcome=columns[-1], rows=rows)


@cache
def load_table(name: str) -> DecisionTable:
    text = (
        resources.files("otorchestrator.planning").joinpath("ssvc_tables", name).read_text(encoding="utf-8")
    )
    return parse_table(name, text)
