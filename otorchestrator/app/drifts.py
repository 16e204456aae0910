"""`drift`: each host's latest recorded baseline compared with a new scan (read-only, execution/scan.py); a
`drift_checked` audit record per host and, when accepted, the new scans recorded as the baselines, both
through the journal of the check (store/journal.py: audit first, then the store). `otorch drift` calls it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.app.errors import AppError
from otorchestrator.app.scans import inventory_assets, limit_assets, scan_assets, scan_journal
from otorchestrator.app.session import Caller
from otorchestrator.execution.scan import HostDrift, drift_against_baselines, record_baselines
from otorchestrator.models.results import PhaseResult
from otorchestrator.store.redact import Redactor

log = logging.getLogger(__name__)

DRIFT_CHECKED = "drift_checked"  # audit kind: one host's scan compared with its baseline


@dataclass(frozen=True)
class Drifted:
    """Each scanned host's drift (in host order), the check's id, and whether its scans became baselines."""

    drift_id: str
    drifts: list[HostDrift]
    accepted: bool

    @property
    def changed(self) -> bool:
        """Anything drifted or could not be checked (`otorch drift` exits CHANGED)."""
        return any(d.error or d.drifted for d in self.drifts)


def check_drift(
    inventory: Path,
    operator: str,
    caller: Caller,
    *,
    limit: str | None = None,
    catalog: Path | None = None,
    accept: bool = False,
    secrets: Sequence[str] = (),
    drift_id: str | None = None,
) -> Drifted:
    """Scan the hosts `limit` selects (default: every OT asset), as `scans.scan` does, and compare each
    with its latest baseline; audit `drift_checked` per host through the journal of the check (id
    `drift_id`, default DRIFT-<UTC time>: the audit records' and any new baselines' run id, what the
    backend's orphan clean-up is given). `accept`: every complete scan is then recorded as its host's
    baseline (audit `baseline_recorded` with accepted_drift, then the store). `secrets` are scrubbed from
    the results before anything is compared or written."""
    paths = caller.paths().ensure()
    assets = limit_assets(inventory_assets(inventory), limit)
    if not assets:
        raise AppError("no host to check")
    drift_id = drift_id or f"DRIFT-{caller.clock.now():%Y%m%dT%H%M%SZ}"
    log.info(
        "checking drift of %d host(s)",
        len(assets),
        extra={"hosts": [a.name for a in assets], "run": drift_id},
    )
    redactor = Redactor(secrets)
    outcome = scan_assets(assets, inventory, catalog, caller, paths, drift_id, redactor, operator)
    with scan_journal(caller, paths, drift_id, operator, redactor) as (store, journal):
        drifts = drift_against_baselines(store, outcome)  # before any accepted scan replaces a baseline
        for d in drifts:
            journal.event(
                DRIFT_CHECKED,
                outcome.finished_at,
                host=d.host,
                result="error" if d.error else ("drift" if d.drifted else "clean"),
                detail={"differences": [x.describe() for x in d.differences], "error": d.error},
            )
        if accept:
            record_baselines(journal, outcome, _accepted)
    return Drifted(drift_id, drifts, accept)


def _accepted(result: PhaseResult) -> dict[str, object]:
    """The audit detail of a `baseline_recorded` that `--accept` writes."""
    return {"accepted_drift": True}
