"""The `baselines` table (a host's scan as the reference that drift and drills compare against) and the
`audit_head` row (the audit chain's last seq and hash, anchored here by the audit log)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from otorchestrator.models.results import PhaseResult
from otorchestrator.models.run import AuditHead, BaselineRecord
from otorchestrator.store.database import Database, ts
from otorchestrator.store.errors import StoreError


class BaselineTables(Database):
    # -- baselines -------------------------------------------------------------------------------

    def save_baseline(
        self, asset: str, scan: PhaseResult | Mapping[str, Any], at: datetime, run_id: str | None = None
    ) -> BaselineRecord:
        data = scan.model_dump(mode="json", by_alias=True) if isinstance(scan, PhaseResult) else dict(scan)
        record = BaselineRecord(asset=asset, at=at, data=data, run_id=run_id)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO baselines (asset, at, run_id, data) VALUES (?, ?, ?, ?)",
                (asset, ts(at), run_id, json.dumps(data, sort_keys=True)),
            )
        return record

    def latest_baseline(self, asset: str) -> BaselineRecord | None:
        rows = self._query(
            "SELECT * FROM baselines WHERE asset = ? ORDER BY at DESC, id DESC LIMIT 1", (asset,)
        )
        if not rows:
            return None
        r = rows[0]
        return BaselineRecord(
            asset=r["asset"],
            at=datetime.fromisoformat(r["at"]),
            data=json.loads(r["data"]),
            run_id=r["run_id"],
        )

    # -- audit chain head ------------------------------------------------------------------------

    def set_audit_head(self, head: AuditHead) -> None:
        """Called by the audit log after each durable append."""
        with self._tx() as conn:
            row = conn.execute("SELECT seq FROM audit_head WHERE id = 1").fetchone()
            if row is not None and int(row["seq"]) > head.seq:
                raise StoreError(f"audit head would move backwards: {row['seq']} -> {head.seq}")
            conn.execute(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (head.seq, head.hash),
            )

    def audit_head(self) -> AuditHead | None:
        rows = self._query("SELECT seq, hash FROM audit_head WHERE id = 1")
        return AuditHead(seq=int(rows[0]["seq"]), hash=rows[0]["hash"]) if rows else None
