"""Read-only queries across runs for the reports: an asset's state in every run, and every install with its
reversal (the row id is the evidence id). Nothing here writes; the tables are those of `store.state`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from otorchestrator.models.run import HostStateRecord, InstalledPatchRecord
from otorchestrator.store.state import StateStore, installed_record


@dataclass(frozen=True)
class InstallRow:
    """One installed-patch row: `id` is its evidence id (`installed_patches.id`)."""

    id: int
    record: InstalledPatchRecord
    reversed_at: datetime | None = None
    reversed_by_run: str | None = None
    reversed_by: str | None = None


def host_runs(store: StateStore, host: str) -> list[HostStateRecord]:
    """The host's end state in every run that had it, oldest run first."""
    rows = store._query(
        "SELECT h.record FROM host_states h JOIN runs r ON r.run_id = h.run_id"
        " WHERE h.host = ? ORDER BY r.started_at, r.run_id",
        (host,),
    )
    return [HostStateRecord.model_validate_json(r["record"]) for r in rows]


def installs(store: StateStore, asset: str | None = None) -> list[InstallRow]:
    """Every install (effective and reversed), oldest first; of one asset when given."""
    sql = "SELECT * FROM installed_patches"
    params: tuple[str, ...] = ()
    if asset is not None:
        sql += " WHERE asset = ?"
        params = (asset,)
    out = []
    for r in store._query(sql + " ORDER BY id", params):
        out.append(
            InstallRow(
                id=int(r["id"]),
                record=installed_record(r),
                reversed_at=datetime.fromisoformat(r["reversed_at"]) if r["reversed_at"] else None,
                reversed_by_run=r["reversed_by_run"],
                reversed_by=r["reversed_by"],
            )
        )
    return out
