"""The run report's other formats as their readers take them: the JUnit file a CI server imports, validated
against the JUnit XSD vendored with the package (Jenkins xunit-plugin junit-10.xsd, source named in the file),
and the Markdown rendered with markdown-it-py as a code host would (tables parse, no template text left, no
clause said twice). Written by the entry point of `otorch report run`; copies kept under out/screenshots."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import xmlschema
from _browser import ARTIFACTS, load_fixture
from markdown_it import MarkdownIt

from otorchestrator.reporting.render import junit_schema_path
from otorchestrator.reporting.write import write_run_reports


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every format of the fixture run, written by the same entry point as `otorch report run`."""
    fx = load_fixture("report_store")
    root = tmp_path_factory.mktemp("written")
    run = fx.make_run_store(root)
    out = write_run_reports(run.paths, run.run_id, root / "out", run.finished_at, secrets=(fx.SECRET,))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in out.values():
        shutil.copyfile(path, ARTIFACTS / path.name)
    return out


def test_junit_file_validates_against_the_junit_xsd(written: dict[str, Path]) -> None:
    """The written file (not a string in memory) against the vendored Jenkins xunit-plugin junit-10.xsd."""
    schema = xmlschema.XMLSchema(junit_schema_path())
    errors = list(schema.iter_errors(str(written["junit"])))
    assert errors == [], [str(e)[:300] for e in errors[:3]]
    root = ET.parse(written["junit"]).getroot()
    report = json.loads(written["json"].read_text(encoding="utf-8"))
    suites = root.findall("testsuite")
    assert [s.get("name", "").split(" ", 1)[1] for s in suites] == [w["name"] for w in report["waves"]]
    # a suite's time is its wave's, from the events (hosts run in parallel: not the sum of the phases)
    for suite, wave in zip(suites, report["waves"], strict=True):
        started = datetime.fromisoformat(wave["started_at"])
        finished = datetime.fromisoformat(wave["finished_at"])
        assert float(suite.get("time", "nan")) == pytest.approx(
            (finished - started).total_seconds(), abs=0.001
        )


_TEMPLATE_LEFTOVERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|\bUndefined\b")


def _sentences(text: str) -> list[str]:
    """Sentences and clauses of inline text (split at . ; : ! ?), normalised; those of 2+ words outside
    code spans (a hash shown twice, e.g. the audit head in the log and in the store, is a value, not text)."""
    parts = (" ".join(p.split()) for p in re.split(r"(?<=[.;!?])\s+|:\s+|;\s*", text))
    return [p for p in parts if len(re.findall(r"[A-Za-z][\w-]{2,}", re.sub(r"`[^`]*`", "", p))) >= 2]


def test_markdown_renders_with_tables_no_template_text_no_repeated_clause(written: dict[str, Path]) -> None:
    source = written["md"].read_text(encoding="utf-8")
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(source)
    rendered = md.render(source)
    # every table of the source parses as one (as many as header separator lines), rows as wide as the head
    lines = source.splitlines()
    separators = [n for n, line in enumerate(lines) if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line)]
    assert separators and sum(1 for t in tokens if t.type == "table_open") == len(separators)
    for n in separators:
        width = len(re.findall(r"(?<!\\)\|", lines[n]))
        rows = [lines[n - 1], *itertools.takewhile(lambda line: line.startswith("|"), lines[n + 1 :])]
        assert all(len(re.findall(r"(?<!\\)\|", row)) == width for row in rows), f"ragged table at line {n}"
    assert rendered.count("<table>") == len(separators)
    for host in ("nw-hmi-02", "nw-gw-01", "nw-hist-01", "nw-hmi-01"):
        assert f"<td>{host}</td>" in rendered
    assert not _TEMPLATE_LEFTOVERS.search(rendered), _TEMPLATE_LEFTOVERS.search(rendered)
    # no paragraph, list item or table cell says the same thing twice ("diagnostics failed: diagnostics
    # failed"); the same label once per host (each host's own evidence list) is structure, not repetition
    blocks = [_sentences(t.content) for t in tokens if t.type == "inline"]
    repeated = [(s, b) for b in blocks for s, n in Counter(b).items() if n > 1]
    assert sum(map(len, blocks)) > 20 and repeated == [], repeated
