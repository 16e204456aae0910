"""Everything `otorch audit verify` checks, as one result: the chain, the signed checkpoints, the store
cross-check and an exported copy. Plain data; the CLI renders it (text or JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otorchestrator.forward.copycheck import CopyCheck, compare_copy
from otorchestrator.store.audit_verify import AuditVerification, read_events, verify
from otorchestrator.store.checkpoints import CheckpointReport, verify_checkpoints
from otorchestrator.store.crosscheck import CrossCheck, cross_check
from otorchestrator.store.state import StateStore
from otorchestrator.trust.trustfile import SiteTrust


@dataclass(frozen=True)
class AuditReport:
    log: Path
    chain: AuditVerification
    anchored: bool  # a state store head was compared
    checkpoints: CheckpointReport
    store: CrossCheck | None
    against: CopyCheck | None

    @property
    def ok(self) -> bool:
        parts = [self.chain.ok, self.checkpoints.ok]
        parts += [p.ok for p in (self.store, self.against) if p is not None]
        return all(parts)

    def problems(self) -> list[str]:
        """Every problem, one line each, section first."""
        out = [f"chain: line {p.line}: {p.kind}: {p.detail}" for p in self.chain.problems]
        out += [f"checkpoints: line {p.line}: {p.kind}: {p.detail}" for p in self.checkpoints.problems]
        if self.store is not None:
            out += [f"store: {m.describe()}" for m in self.store.problems]
        if self.against is not None:
            out += [f"copy: {p.where}: {p.kind}: {p.detail}" for p in self.against.problems]
        return out

    def notes(self) -> list[str]:
        out = [*self.chain.notes, *self.checkpoints.notes]
        out += [*self.store.notes] if self.store is not None else []
        out += [*self.against.notes] if self.against is not None else []
        return out

    def to_json(self) -> dict[str, Any]:
        c, k = self.chain, self.checkpoints
        data: dict[str, Any] = {
            "ok": self.ok,
            "log": str(self.log),
            "chain": {
                "ok": c.ok,
                "records": c.records,
                "head_seq": c.head_seq,
                "head_hash": c.head_hash,
                "anchored": self.anchored,
                "problems": [vars(p) for p in c.problems],
            },
            "checkpoints": {
                "ok": k.ok,
                "found": k.found,
                "verified": k.verified,
                "covered_seq": k.covered_seq,
                "signers": list(k.signers),
                "problems": [vars(p) for p in k.problems],
            },
            "store": None,
            "against": None,
            "problems": self.problems(),
            "notes": self.notes(),
        }
        if self.store is not None:
            s = self.store
            data["store"] = {
                "ok": s.ok,
                "runs": s.runs,
                "transitions": s.transitions,
                "phase_results": s.phase_results,
                "scans": s.scans,
                "problems": [vars(m) for m in s.problems],
            }
        if self.against is not None:
            a = self.against
            data["against"] = {
                "ok": a.ok,
                "copy": a.copy,
                "records": a.records,
                "first_seq": a.first_seq,
                "last_seq": a.last_seq,
                "problems": [vars(p) for p in a.problems],
            }
        return data


def audit_report(
    log: Path,
    store: StateStore | None,
    trust: SiteTrust | None,
    require_checkpoints: bool = False,
    against: Path | None = None,
) -> AuditReport:
    """Check `log`: its chain (anchored to `store`'s head), checkpoints (signatures with `trust`), the
    store's transitions and phase results, and the copy `against` when given."""
    head = store.audit_head() if store is not None else None
    chain = verify(log, expected_head=head)
    checkpoints = verify_checkpoints(log, trust, require=require_checkpoints)
    crossed = None
    if store is not None:
        crossed = cross_check([e for _, e in read_events(log)], store)
    copy = compare_copy(log, against) if against is not None else None
    return AuditReport(log, chain, head is not None, checkpoints, crossed, copy)
