"""The `installed_patches` table: every install a run recorded, per asset, and its reversal by a rollback
(the row stays as history, marked with when and by which run)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from otorchestrator.models.run import InstalledPatchRecord
from otorchestrator.store.database import Database, ts


def installed_record(r: sqlite3.Row) -> InstalledPatchRecord:
    """An installed_patches row as its record (the store's and the history queries' one mapping)."""
    return InstalledPatchRecord(
        asset=r["asset"],
        patch_id=r["patch_id"],
        package=r["package"],
        from_version=r["from_version"],
        to_version=r["to_version"],
        run_id=r["run_id"],
        operator=r["operator"],
        at=datetime.fromisoformat(r["at"]),
    )


class PatchTable(Database):
    def record_installed_patch(
        self,
        asset: str,
        patch_id: str,
        package: str | None,
        from_version: str | None,
        to_version: str | None,
        run_id: str,
        operator: str,
        at: datetime,
    ) -> InstalledPatchRecord:
        record = InstalledPatchRecord(
            asset=asset,
            patch_id=patch_id,
            package=package,
            from_version=from_version,
            to_version=to_version,
            run_id=run_id,
            operator=operator,
            at=at,
        )
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO installed_patches (asset, patch_id, package, from_version, to_version, run_id,"
                " operator, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (asset, patch_id, package, from_version, to_version, run_id, operator, ts(at)),
            )
        return record

    def patch_history(
        self, asset: str | None = None, *, include_reversed: bool = False
    ) -> list[InstalledPatchRecord]:
        """Oldest first; every asset when `asset` is None. Only effective installs (not reversed by a
        rollback) unless `include_reversed`."""
        sql = "SELECT * FROM installed_patches"
        where: list[str] = []
        params: list[Any] = []
        if asset is not None:
            where.append("asset = ?")
            params.append(asset)
        if not include_reversed:
            where.append("reversed_at IS NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY id", params)
        return [installed_record(r) for r in rows]

    def reverse_installed_patches(
        self,
        asset: str,
        run_id: str,
        by_run: str,
        operator: str,
        at: datetime,
        patch_ids: Iterable[str] | None = None,
    ) -> list[str]:
        """Mark the effective installs of `asset` recorded by run `run_id` as reversed (a rollback to the
        backup taken before them) by run `by_run`; `patch_ids` narrows them. Returns the patch ids marked."""
        wanted = None if patch_ids is None else set(patch_ids)
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, patch_id FROM installed_patches"
                " WHERE asset = ? AND run_id = ? AND reversed_at IS NULL ORDER BY id",
                (asset, run_id),
            ).fetchall()
            marked = [r for r in rows if wanted is None or r["patch_id"] in wanted]
            for r in marked:
                conn.execute(
                    "UPDATE installed_patches SET reversed_at = ?, reversed_by_run = ?, reversed_by = ?"
                    " WHERE id = ?",
                    (ts(at), by_run, operator, r["id"]),
                )
        return [str(r["patch_id"]) for r in marked]

    def reversed_patches(self, asset: str | None = None) -> list[tuple[InstalledPatchRecord, str, datetime]]:
        """(install, reversed by run, reversed at) for every install a rollback reversed, oldest first."""
        sql = "SELECT * FROM installed_patches WHERE reversed_at IS NOT NULL"
        params: list[Any] = []
        if asset is not None:
            sql += " AND asset = ?"
            params.append(asset)
        rows = self._query(sql + " ORDER BY id", params)
        return [
            (
                installed_record(r),
                str(r["reversed_by_run"]),
                datetime.fromisoformat(r["reversed_at"]),
            )
            for r in rows
        ]
