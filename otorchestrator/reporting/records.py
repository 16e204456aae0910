"""The records per asset (`otorch records`): the baseline from the latest scan and its age, the
installed-patch history (run, operator, when, from -> to, and whether a rollback reversed it), and, with a
plan, the exemptions (compensating controls, approver, expiry).

`load_asset_records` reads the state store and the audit log; `build_asset_records` is pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from otorchestrator.models.plan import Plan
from otorchestrator.models.run import BaselineRecord, InstalledPatchRecord
from otorchestrator.planning.drift import listening_ports, scan_values
from otorchestrator.reporting.attempts import Attempt, AttemptOutcome, asset_attempts
from otorchestrator.reporting.sources import load_run_views
from otorchestrator.store.audit import read_events
from otorchestrator.store.history import installs
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore

_FROZEN = ConfigDict(frozen=True)
BASELINE_EVENT = "baseline_recorded"


class BaselineInfo(BaseModel):
    model_config = _FROZEN

    at: datetime
    age_days: int
    run_id: str | None  # the scan / drill that took it
    packages: dict[str, str]
    listening: tuple[str, ...]  # proto/port
    config_files: int


class HistoryEntry(BaseModel):
    model_config = _FROZEN

    patch_id: str
    package: str | None
    from_version: str | None
    to_version: str | None
    run_id: str
    operator: str
    at: datetime
    rolled_back: bool = False
    rolled_back_by_run: str | None = None
    rolled_back_at: datetime | None = None


class ExemptionEntry(BaseModel):
    model_config = _FROZEN

    patch_id: str
    id: str
    reason: str
    compensating_controls: tuple[str, ...]
    approver: str
    expires: datetime
    expired: bool


class AssetRecords(BaseModel):
    model_config = _FROZEN

    asset: str
    baseline: BaselineInfo | None
    history: tuple[HistoryEntry, ...] = ()
    exemptions: tuple[ExemptionEntry, ...] = ()
    attempts: tuple[Attempt, ...] = ()  # every attempt, run by run (installed, failed, rolled back, ...)

    @property
    def effective(self) -> tuple[HistoryEntry, ...]:
        """The installs still in place (not reversed by a rollback)."""
        return tuple(h for h in self.history if not h.rolled_back)


def _baseline(record: BaselineRecord | None, now: datetime) -> BaselineInfo | None:
    if record is None:
        return None
    values = scan_values(record.data)
    packages = values.get("packages") if isinstance(values.get("packages"), dict) else {}
    configs = values.get("config_sha256") if isinstance(values.get("config_sha256"), dict) else {}
    return BaselineInfo(
        at=record.at,
        age_days=(now - record.at).days,
        run_id=record.run_id,
        packages={str(k): str(v) for k, v in sorted((packages or {}).items())},
        listening=tuple(sorted(listening_ports(values), key=_port_key)),
        config_files=len(configs or {}),
    )


def _port_key(port: str) -> tuple[str, int]:
    proto, _, number = port.partition("/")
    return proto, int(number) if number.isdigit() else 0


def _key(record: InstalledPatchRecord) -> tuple[str, str, str, str]:
    return record.asset, record.patch_id, record.run_id, record.at.isoformat()


def _entry(record: InstalledPatchRecord, reversal: tuple[str | None, datetime | None] | None) -> HistoryEntry:
    # a marker on the record itself (if the store model carries one) counts as well
    by_run = getattr(record, "reversed_by_run", None)
    at = getattr(record, "reversed_at", None)
    if reversal is not None:
        by_run, at = reversal
    return HistoryEntry(
        patch_id=record.patch_id,
        package=record.package,
        from_version=record.from_version,
        to_version=record.to_version,
        run_id=record.run_id,
        operator=record.operator,
        at=record.at,
        rolled_back=reversal is not None or at is not None,
        rolled_back_by_run=by_run if isinstance(by_run, str) else None,
        rolled_back_at=at if isinstance(at, datetime) else None,
    )


def build_asset_records(
    assets: Sequence[str],
    baselines: dict[str, BaselineRecord],
    effective: Sequence[InstalledPatchRecord],
    reversed_: Sequence[tuple[InstalledPatchRecord, str | None, datetime | None]],
    now: datetime,
    plan: Plan | None = None,
    attempts: dict[str, tuple[Attempt, ...]] | None = None,
) -> tuple[AssetRecords, ...]:
    """Records per asset, in the order of `assets`; history oldest first (effective and reversed installs)."""
    reversals = {_key(r): (run, at) for r, run, at in reversed_}
    merged = {_key(r): r for r in effective} | {_key(r): r for r, _, _ in reversed_}
    by_asset: dict[str, list[InstalledPatchRecord]] = {}
    for record in sorted(merged.values(), key=lambda r: r.at):
        by_asset.setdefault(record.asset, []).append(record)
    out = []
    for name in assets:
        exemptions = tuple(
            ExemptionEntry(
                patch_id=item.patch_id,
                id=item.exemption.id,
                reason=item.exemption.reason,
                compensating_controls=item.exemption.compensating_controls,
                approver=item.exemption.approver,
                expires=item.exemption.expires,
                expired=now >= item.exemption.expires,
            )
            for item in (plan.items if plan else ())
            if item.asset == name and item.exemption is not None
        )
        out.append(
            AssetRecords(
                asset=name,
                baseline=_baseline(baselines.get(name), now),
                history=tuple(_entry(r, reversals.get(_key(r))) for r in by_asset.get(name, [])),
                exemptions=exemptions,
                attempts=(attempts or {}).get(name, ()),
            )
        )
    return tuple(out)


def known_assets(store: StateStore, audit_events: Iterable[Any]) -> list[str]:
    """Every asset the records mention: patch history, hosts of runs and drills, recorded baselines."""
    names: set[str] = {r.asset for r in store.patch_history()}
    reversed_fn = getattr(store, "reversed_patches", None)
    if callable(reversed_fn):
        names |= {r.asset for r, _, _ in reversed_fn()}
    for run in store.list_runs():
        names |= set(store.host_states(run.run_id))
    names |= {e.host for e in audit_events if e.kind == BASELINE_EVENT and e.host}
    return sorted(names)


def load_asset_records(
    paths: StatePaths, now: datetime, assets: Sequence[str] | None = None, plan: Plan | None = None
) -> tuple[AssetRecords, ...]:
    """Records of `assets` (default: every asset the store and audit log know)."""
    events = [e for _, e in read_events(paths.audit)]
    with StateStore(paths.db) as store:
        names = list(assets) if assets is not None else known_assets(store, events)
        views = load_run_views(store, events)
        rows = installs(store)
        baselines = {n: b for n in names if (b := store.latest_baseline(n)) is not None}
        effective = store.patch_history()
        reversed_fn = getattr(store, "reversed_patches", None)  # the rollback marker (newer stores)
        reversed_ = list(reversed_fn()) if callable(reversed_fn) else []
    attempts = {n: asset_attempts(n, views, rows, plan) for n in names}
    return build_asset_records(names, baselines, effective, reversed_, now, plan, attempts)


def _version_text(a: Attempt, pkg: str, target: str) -> str:
    """ "nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0": where the package was, what was
    attempted and where it ended (never "1.0.0 -> 1.0.0", which hides the attempted version)."""
    before, after = a.versions_before.get(pkg), a.versions_after.get(pkg)
    was = f"{pkg} {before}" if before else pkg
    if a.outcome is AttemptOutcome.HELD:
        return f"{was}: {target} held, nothing changed"
    if a.outcome is AttemptOutcome.EXEMPT:
        return f"{was}: {target} not installed (exempt)"
    if a.outcome is AttemptOutcome.BLOCKED:
        return f"{was}: {target} not installed (refused by diagnostics)"
    if a.outcome is AttemptOutcome.NOT_ATTEMPTED or not (before or after):
        return f"{was}: {target} not installed ({a.state.replace('_', ' ')})"
    if a.outcome is AttemptOutcome.INSTALLED:
        return f"{was} -> {after or target}"
    if a.outcome is AttemptOutcome.REVERSED:
        return f"{was} -> {after or target}, reversed later"
    now = after or "an unreported version"
    if a.outcome is AttemptOutcome.ROLLED_BACK:
        return f"{was} -> {target} attempted -> rolled back to {now}"
    return f"{was} -> {target} attempted -> failed, now {now}"


def attempt_line(a: Attempt) -> str:
    """One attempt as text: when, run, wave, outcome, versions before/after/attempted, reason, evidence."""
    wave = f" wave {a.wave} ({a.wave_name})" if a.wave is not None and a.wave_name else ""
    check = " [check mode]" if a.check_mode else ""
    versions = "; ".join(_version_text(a, pkg, target) for pkg, target in a.versions_attempted.items())
    parts = [
        f"{a.at:%Y-%m-%d %H:%M} UTC  run {a.run_id}{wave}{check}: {a.outcome.value.upper()}",
        ", ".join(a.patches),
        versions,
        a.reason,
    ]
    if a.reversed_by_run:
        parts.append(f"reversed by run {a.reversed_by_run}")
    if a.evidence:
        parts.append("evidence: " + ", ".join(a.evidence))
    return "  ".join(p for p in parts if p)
