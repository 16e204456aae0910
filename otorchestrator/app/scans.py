"""`scan`: hosts scanned (read-only, execution/scan.py) through the scan's journal (store/journal_scan.py:
scan_started, its task events into the store, each host's scan_result with their digest, scan_finished)
and each complete scan recorded as the host's baseline through it (the audit record `baseline_recorded`,
then the store). `otorch scan` and the demo call it; `otorch drill` shares the catalog and inventory
reading here."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.app.errors import AppError
from otorchestrator.app.session import Caller, audit_sinks_for
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.scan import BASELINE_RECORDED as BASELINE_RECORDED  # what `otorch scan` audits
from otorchestrator.execution.scan import ScanOutcome, applicable_patches, journaled_scan, record_baselines
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.intake.patterns import HostPatternError, select_hosts
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import PhaseResult
from otorchestrator.models.run import BaselineRecord
from otorchestrator.planning.drift import listening_ports, scan_values
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.journal_scan import ScanJournal
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

log = logging.getLogger(__name__)


class OptionError(AppError):
    """The value of one option does not fit (a usage error; `option` names it, e.g. "--limit")."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message, usage=True)
        self.option = option


def catalog_patches(catalog: Path | None) -> list[Patch]:
    """The catalog's patches (none without a catalog); INPUT_INVALID when it is unusable."""
    if catalog is None:
        return []
    try:
        return list(load_catalog_strict(catalog).patches)
    except ValueError as exc:
        raise AppError(str(exc), ExitCode.INPUT_INVALID) from exc


def inventory_assets(inventory: Path) -> list[Asset]:
    """The inventory's OT assets; INPUT_INVALID (every problem) when it is unusable."""
    try:
        return list(load_inventory(inventory).assets)
    except ValueError as exc:  # InventoryError / IntakeError carry every problem
        raise AppError(str(exc), ExitCode.INPUT_INVALID) from exc


def limit_assets(assets: Sequence[Asset], limit: str | None) -> list[Asset]:
    """The assets a host pattern selects (intake/patterns.py), in inventory order; all without one."""
    if not limit:
        return list(assets)
    try:
        chosen = set(select_hosts(limit, {a.name: a.groups for a in assets}).hosts)
    except HostPatternError as exc:
        raise OptionError("--limit", str(exc)) from exc
    return [a for a in assets if a.name in chosen]


@dataclass(frozen=True)
class Recorded:
    """One baseline recorded: when, its package versions, its listening ports (by number)."""

    record: BaselineRecord
    packages: dict[str, str]
    listening: tuple[str, ...]

    @classmethod
    def of(cls, record: BaselineRecord) -> Recorded:
        values = scan_values(record.data)
        ports = sorted(listening_ports(values), key=_port_key)
        return cls(record, dict(values.get("packages") or {}), tuple(ports))


def _port_key(port: str) -> tuple[int, str]:
    proto, _, number = port.partition("/")  # "tcp/502": by number, as the table always showed them
    return (int(number) if number.isdigit() else -1), proto


@dataclass(frozen=True)
class Scanned:
    """The baselines recorded (host -> what) and the hosts whose scan was incomplete (host -> why)."""

    recorded: dict[str, Recorded]
    not_recorded: dict[str, str]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.HOSTS_FAILED if self.not_recorded else ExitCode.OK


def scan(
    inventory: Path,
    operator: str,
    caller: Caller,
    *,
    limit: str | None = None,
    catalog: Path | None = None,
    secrets: Sequence[str] = (),
    scan_id: str | None = None,
) -> Scanned:
    """Scan the hosts `limit` selects (default: every OT asset), hashing the config files of their catalog
    patches, and record each complete scan as the host's baseline through the journal of the scan (id
    `scan_id`, default SCAN-<UTC time>: the baselines' and audit records' run id, what the backend's orphan
    clean-up is given); an incomplete one keeps the earlier baseline and is listed in `not_recorded`.
    `secrets` are scrubbed from the results before anything is written."""
    paths = caller.paths().ensure()
    assets = limit_assets(inventory_assets(inventory), limit)
    if not assets:
        raise AppError("no host to scan: --limit selects none of the inventory's OT assets", usage=True)
    scan_id = scan_id or f"SCAN-{caller.clock.now():%Y%m%dT%H%M%SZ}"
    log.info("scanning %d host(s)", len(assets), extra={"hosts": [a.name for a in assets], "scan": scan_id})
    redactor = Redactor(secrets)
    with scan_journal(caller, paths, scan_id, operator, redactor) as (_, journal):
        outcome = _scan_through(journal, assets, inventory, catalog, caller, paths, redactor)
        saved, failed = record_baselines(journal, outcome, _baseline_detail)
    recorded = {host: Recorded.of(record) for host, record in saved.items()}
    for host, why in failed.items():
        log.warning("baseline of %s not recorded: %s", host, why, extra={"host": host})
    return Scanned(recorded, failed)


def scan_assets(
    assets: Sequence[Asset],
    inventory: Path,
    catalog: Path | None,
    caller: Caller,
    paths: StatePaths,
    run_id: str,
    redactor: Redactor,
    operator: str | None = None,
) -> ScanOutcome:
    """The read-only scan of `assets` under `run_id` (the scan's id: the backend's run id and label, the
    key of its task events in the store) through the journal of that id, by `operator` (default: the
    login name), hashing the config files of their catalog patches; results scrubbed by `redactor`.
    `drifts.check_drift` calls it; `scan` runs the same scan inside the journal it records baselines with."""
    with scan_journal(caller, paths, run_id, operator or _login(), redactor) as (_, journal):
        return _scan_through(journal, assets, inventory, catalog, caller, paths, redactor)


def _scan_through(
    journal: ScanJournal,
    assets: Sequence[Asset],
    inventory: Path,
    catalog: Path | None,
    caller: Caller,
    paths: StatePaths,
    redactor: Redactor,
) -> ScanOutcome:
    patches = catalog_patches(catalog)
    return journaled_scan(
        journal,
        caller.backend(paths),
        RunOptions(operator="", inventory=inventory),  # the request's inventory; its defaults otherwise
        [a.name for a in assets],
        caller.clock,
        patches_by_host={a.name: applicable_patches(a, patches) for a in assets},
        redactor=redactor,
    )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def scan_journal(
    caller: Caller, paths: StatePaths, run_id: str, operator: str, redactor: Redactor
) -> Iterator[tuple[StateStore, ScanJournal]]:
    """The store and the journal of one scan's id (audit with the site's sinks and `redactor`), the audit
    log closed on the way out. Shared by `scan` and `drifts.check_drift`."""
    with StateStore(paths.db) as store:
        sinks = audit_sinks_for(caller.audit_config, paths, caller.warn)
        audit = AuditLog(paths.audit, redactor=redactor, head_store=store, sinks=sinks)
        try:
            yield store, ScanJournal(store, audit, run_id, operator)
        finally:
            audit.close()


def _baseline_detail(result: PhaseResult) -> dict[str, object]:
    """The audit detail of `baseline_recorded`: how many packages, which ports listen."""
    values = scan_values(result.model_dump(mode="json", by_alias=True))
    return {"packages": len(values.get("packages") or {}), "ports": sorted(listening_ports(values))}
