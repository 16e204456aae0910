"""A feed store's provenance records reach the advisory and every finding; tampered bytes are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from feeds_helpers import lab_store
from plan_helpers import LAB, lab_inputs

from otorchestrator.feeds.records import record_path
from otorchestrator.intake.csaf import load_advisories
from otorchestrator.planning.plan import build_plan

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def _store_copy(tmp_path: Path) -> Path:
    return lab_store(tmp_path, LAB / "advisories")


def test_store_records_reach_advisories_and_findings(tmp_path: Path) -> None:
    store = _store_copy(tmp_path)
    from_store, problems = load_advisories([store])
    assert not problems and all(a.provenance is not None for a in from_store)
    from_folder, _ = load_advisories([LAB / "advisories"])
    assert all(a.provenance is None for a in from_folder)

    folder_plan = build_plan(lab_inputs(advisories=from_folder), NOW)
    store_plan = build_plan(lab_inputs(advisories=from_store), NOW)
    assert folder_plan.items and all(not i.provenance for i in folder_plan.items)
    for item in store_plan.items:  # every finding names the stored revision(s) behind its CVEs
        assert item.provenance and all(p.sha512 and p.signer for p in item.provenance)
        assert {p.advisory for p in item.provenance} <= {a.id for a in from_store}
    for unpatched in store_plan.unpatched:
        assert {p.advisory for p in unpatched.provenance} == set(unpatched.advisories)

    def strip(plan):  # the same plan but for the provenance fields
        data = plan.model_dump(mode="json")
        for key in ("items", "unpatched"):
            for entry in data[key]:
                entry.pop("provenance")
        return data

    assert strip(store_plan) == strip(folder_plan)


def test_a_document_changed_after_the_sync_is_refused(tmp_path: Path) -> None:
    store = _store_copy(tmp_path)
    doc = sorted(store.glob("*.json"))[0]
    doc.write_bytes(doc.read_bytes().replace(b'"title"', b'"title" ', 1))
    advisories, problems = load_advisories([store])
    assert doc.name not in {a.source for a in advisories}
    assert [p.file for p in problems] == [doc.name]
    assert "changed after the sync" in problems[0].found


def test_an_unreadable_record_is_reported(tmp_path: Path) -> None:
    store = _store_copy(tmp_path)
    doc = sorted(store.glob("*.json"))[0]
    record_path(doc).write_text("{not json")
    advisories, problems = load_advisories([store])
    assert len(advisories) == len(list(store.glob("*.json"))) - 1
    assert problems[0].file == doc.name + ".provenance" and "provenance record" in problems[0].expected
