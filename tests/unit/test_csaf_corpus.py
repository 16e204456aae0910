"""All real CISA advisories in ../shared/data/csaf: read without a crash; the rest is counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from otorchestrator.intake.csaf import load_advisories
from otorchestrator.planning.match import build_index
from otorchestrator.planning.versions import SpecKind

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "csaf"

pytestmark = [
    pytest.mark.external_data,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"CSAF corpus not present at {CORPUS}"),
]


def test_corpus_reads_completely() -> None:
    files = sorted(CORPUS.rglob("*.json"))
    advisories, problems = load_advisories([CORPUS])
    assert len(files) >= 773
    assert len(advisories) + len({p.file for p in problems if p.severity == "error"}) == len(files)
    index = build_index(advisories)
    kinds = Counter(c.spec.kind for rules in index.by_product.values() for c in rules)
    print(
        f"\ncorpus: {len(files)} files, {len(advisories)} advisories, {len(problems)} problems, "
        f"{index.rules} product rules: {kinds[SpecKind.CONSTRAINTS]} ranges, "
        f"{kinds[SpecKind.ALL]} all-versions, "
        f"{kinds[SpecKind.UNINTERPRETABLE]} uninterpretable"
    )
    assert len(advisories) == len(files)
    assert kinds[SpecKind.UNINTERPRETABLE] < 0.06 * index.rules
    assert all(c.spec.reason for c in index.uninterpretable)
