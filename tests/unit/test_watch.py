"""`otorch watch`: an evaluation by the planner, recorded, and what changed since the previous one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.feeds.records import StoredRecord, read_record, record_path, sha512_hex

LAB = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def _run(state: Path, advisories: Path, kev: Path, now: str, *extra: str) -> tuple[int, dict]:
    args = ["watch", "-i", str(LAB / "hosts.yml"), "--catalog", str(LAB / "catalog.yml"),
            "--advisories", str(advisories), "--kev", str(kev), "--state-dir", str(state),
            "--now", now, "--json", *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (ExitCode.OK, ExitCode.CHANGED), result.output
    return result.exit_code, json.loads(result.stdout)


def _kinds(body: dict) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for change in body["changes"]:
        out.setdefault(change["kind"], set()).add((change["finding"]["asset"], change["finding"]["cve"]))
    return out


def _revise(doc: Path, date: str) -> None:
    """A new stored revision of `doc` (as a sync would commit it), with its record."""
    data = json.loads(doc.read_bytes())
    data["document"]["tracking"]["current_release_date"] = date
    doc.write_text(json.dumps(data))
    record = read_record(doc)
    assert record is not None
    prov = record.provenance.model_copy(
        update={"current_release_date": date, "sha512": sha512_hex(doc.read_bytes())}
    )
    record_path(doc).write_bytes(StoredRecord(prov, date).to_json())


def test_watch_reports_new_revised_kev_and_gone(tmp_path: Path) -> None:
    from feeds_helpers import lab_store

    state, store = tmp_path / "state", lab_store(tmp_path, LAB / "advisories")
    kev = tmp_path / "kev.json"
    shutil.copyfile(LAB / "kev.json", kev)
    code, first = _run(state, store, kev, "2026-03-10T08:00:00+00:00")
    assert code == ExitCode.CHANGED and first["since"] is None and first["new_applicable"]
    assert {c["kind"] for c in first["changes"]} == {"new"} and len(first["changes"]) == first["findings"] > 0
    assert all(c["finding"]["decision"] for c in first["changes"])

    code, same = _run(state, store, kev, "2026-03-11T08:00:00+00:00")
    assert code == 0 and same["changes"] == [] and same["since"] == "2026-03-10T08:00:00+00:00"

    _revise(store / "nwc-sa-2026-01.json", "2026-03-12T00:00:00Z")
    catalog = json.loads(kev.read_text())
    added = dict(catalog["vulnerabilities"][0], cveID="CVE-2026-90201")
    catalog["vulnerabilities"].append(added)
    kev.write_text(json.dumps(catalog))
    code, later = _run(state, store, kev, "2026-03-12T08:00:00+00:00")
    kinds = _kinds(later)
    assert (
        code == ExitCode.CHANGED
        and set(kinds) <= {"revised", "kev", "decision"}
        and kinds["revised"]
        and kinds["kev"]
    )
    assert {cve for _, cve in kinds["revised"]} <= {"CVE-2026-90101", "CVE-2026-90102"}
    assert {cve for _, cve in kinds["kev"]} == {"CVE-2026-90201"}

    for doc in store.glob("nwc-sa-2026-03.json*"):
        doc.unlink()
    code, gone = _run(state, store, kev, "2026-05-01T08:00:00+00:00")
    kinds = _kinds(gone)
    assert (
        code == 0
        and set(kinds) == {"gone"}
        and {cve for _, cve in kinds["gone"]} <= {"CVE-2026-90301", "CVE-2026-90302"}
    )
    assert "CIP-007 R2.2" in gone["overdue"]  # 50 days after the previous evaluation

    code, since = _run(state, store, kev, "2026-05-02T08:00:00+00:00", "--since", "2026-03-10T09:00:00+00:00")
    assert (
        since["since"] == "2026-03-10T08:00:00+00:00" and code == ExitCode.CHANGED
    )  # against the first: KEV + revised
