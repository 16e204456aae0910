"""The rollback drill: prove on real hosts that the way back works.

Per drill host, one host at a time (a drill never takes two hosts of a group down together):
scan (baseline) -> diagnostics -> backup -> install -> verify -> FORCED rollback (even when verification
passed) -> scan -> compare with the pre-drill baseline (packages, config hashes, services, listening ports).
A host passes when the rollback reported ok and the scans show no difference. Every transition goes to the
state store and the audit log before the step it starts; the drill is a run in the store (run id = drill id,
so `otorch report DRILL` renders it), and each host's verdict is an audit event `drill_result` (the evidence
the compliance report cites). Safety-system hosts are refused unless a recorded approval by someone other than
the operator releases them (`safety_approvals`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from otorchestrator.execution.backend import Backend, HostsInventory, PhaseRequest
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.execution.scan import patch_vars
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Approval, content_hash
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.run import AuditEvent, AuditKind, HostState, RunRecord, RunStatus
from otorchestrator.planning.drift import Difference, compare_scans
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import Clock
from otorchestrator.store.state import StateStore

DRILL_RESULT = "drill_result"
DRILL_REFUSED = "drill_refused"
APPROVAL_RECORDED = "approval_recorded"
MAX_LISTED = 10  # differences named in the host's state detail (all are in the drill report and audit)


class DrillRefused(ValueError):
    """The drill would touch a safety-system asset without a valid recorded approval (nothing was touched).

    `missing`: host -> what is missing for it."""

    def __init__(self, missing: Mapping[str, str], signed_only: bool = False) -> None:
        self.missing = dict(missing)
        self.hosts = tuple(self.missing)
        lines = "; ".join(f"{host} is a safety-system asset and {why}" for host, why in self.missing.items())
        remedy = (
            "Have an approver of the trust file sign one (`otorch approve drill --asset HOST --approver NAME "
            "--reason ... --key KEY`; not the operator), or drill another group."
            if signed_only
            else "Record the approval (kind drill or asset, subject the host, approved_by someone other than "
            "the operator, a reason) in an approvals file (--approvals FILE) or the plan (--plan FILE), or "
            "drill another group."
        )
        super().__init__(f"refusing the drill: {lines}; nothing was touched. {remedy}")


class DrillPhase(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: Phase
    ok: bool
    seconds: float
    detail: str = ""


class DrillHostResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    passed: bool
    final_state: HostState
    phases: tuple[DrillPhase, ...] = ()
    verification_ok: bool | None = None
    rollback_ok: bool | None = None
    rollback_seconds: float | None = None
    differences: tuple[Difference, ...] = ()
    message: str = ""


class DrillReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    drill_id: str
    group: str
    patch_id: str
    package: str | None
    operator: str
    started_at: datetime
    finished_at: datetime
    hosts: tuple[DrillHostResult, ...]
    not_applicable: tuple[str, ...] = ()
    approvals: tuple[Approval, ...] = ()

    @property
    def passed(self) -> bool:
        return bool(self.hosts) and all(h.passed for h in self.hosts)


@dataclass(frozen=True)
class DrillSpec:
    drill_id: str
    group: str
    patch: Patch
    assets: tuple[Asset, ...]  # the drill hosts, in drill order
    inventory: Path
    operator: str
    approvals: tuple[Approval, ...] = ()  # recorded approvals (approvals files, the plan)
    approvals_from: tuple[str, ...] = ()  # where they were read: "approvals FILE", "plan FILE (hash)"
    # a trust file is in force: `approvals` are the verified signed ones (trust/drill_approvals.py), and
    # for each safety-system host without one, why no signed approval counts
    signed_only: bool = False
    approval_problems: Mapping[str, str] = field(default_factory=dict)
    not_applicable: tuple[str, ...] = ()
    phase_timeout_s: int = 1800
    extravars: Mapping[str, Any] = field(default_factory=dict)
    # a phase's hosts as data; None: read from `inventory` in-process (execution/inventory.phase_inventory)
    hosts_inventory: Callable[[Sequence[str]], HostsInventory] | None = None


def select_drill_hosts(assets: Sequence[Asset], group: str, patch: Patch) -> tuple[list[Asset], list[str]]:
    """(drill hosts: members of `group` (or the host named `group`) with the patch's package or product
    installed, not-applicable members)."""
    members = [a for a in assets if group in ("all", a.name) or group in a.groups]
    hosts: list[Asset] = []
    skipped: list[str] = []
    for asset in members:
        if any(_same_product(p.package, p.vendor, p.product, patch) for p in asset.installed_products):
            hosts.append(asset)
        else:
            skipped.append(asset.name)
    return hosts, skipped


def _same_product(package: str | None, vendor: str, product: str, patch: Patch) -> bool:
    if patch.package and package == patch.package:
        return True
    return (vendor, product) == (patch.vendor, patch.product)


SAFETY_APPROVAL_KINDS = ("drill", "asset")


def _same_person(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _approval_problem(approval: Approval, operator: str, now: datetime) -> str | None:
    """Why `approval` does not release a safety-system drill (None: it does)."""
    if not approval.approved_by.strip():
        return "names no approver"
    if not approval.reason.strip():
        return f"by {approval.approved_by} gives no reason"
    if _same_person(approval.approved_by, operator):
        return f"is by the operator {operator} (an operator cannot approve their own drill)"
    expires = getattr(approval, "expires", None)  # only if the approval model carries an expiry
    if isinstance(expires, datetime) and expires <= now:
        return f"by {approval.approved_by} expired on {expires:%Y-%m-%d %H:%M}"
    return None


def safety_approvals(
    assets: Sequence[Asset], approvals: Sequence[Approval], operator: str, now: datetime
) -> tuple[dict[str, Approval], dict[str, str]]:
    """(host -> the approval that releases its drill, host -> what is missing) for the safety-system hosts.

    A valid approval: kind drill or asset, subject the host, approved by someone other than the operator,
    non-blank approver and reason, not expired (when the approval carries an expiry)."""
    found: dict[str, Approval] = {}
    missing: dict[str, str] = {}
    for asset in assets:
        if not asset.safety_system:
            continue
        mine = [a for a in approvals if a.kind in SAFETY_APPROVAL_KINDS and a.subject.strip() == asset.name]
        problems = [(a, _approval_problem(a, operator, now)) for a in mine]
        valid = [a for a, why in problems if why is None]
        if valid:
            found[asset.name] = valid[-1]
        elif not mine:
            missing[asset.name] = (
                f"no approval is recorded for it (kind drill or asset, subject {asset.name}, "
                f"by someone other than the operator {operator})"
            )
        else:
            whys = "; ".join(f"the approval {why}" for _, why in problems if why)
            missing[asset.name] = f"no valid approval is recorded for it: {whys}"
    return found, missing


def unapproved_safety_hosts(
    assets: Sequence[Asset], approvals: Sequence[Approval], operator: str, now: datetime
) -> list[str]:
    return list(safety_approvals(assets, approvals, operator, now)[1])


def _brief(result: PhaseResult) -> str:
    failed = [c.name for c in result.failed_checks]
    if failed:
        return ", ".join(failed)
    if result.outcome is not HostOutcome.OK or not result.ok:
        return f"{result.outcome.value}: {result.message}".strip(": ")
    return ""


class Drill:
    """Runs a `DrillSpec` through a `Backend`, recording into `store` and `audit`."""

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        audit: AuditLog,
        clock: Clock,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.backend, self.store, self.audit, self.clock = backend, store, audit, clock
        self.progress = progress or (lambda _msg: None)

    # -- recording -------------------------------------------------------------------------------

    def _event(self, spec: DrillSpec, kind: str, **fields: Any) -> AuditEvent:
        return self.audit.append(
            AuditEvent(at=self.clock.now(), operator=spec.operator, kind=kind, run_id=spec.drill_id, **fields)
        )

    def _move(self, spec: DrillSpec, host: str, wave: int, state: HostState, detail: str = "") -> None:
        self._event(
            spec,
            AuditKind.TRANSITION,
            host=host,
            wave=wave,
            result=state.value,
            detail={"detail": detail} if detail else {},
        )
        self.store.transition(spec.drill_id, host, wave, state, detail=detail, now=self.clock.now())

    def _phase(
        self, spec: DrillSpec, host: str, wave: int, phase: Phase, extra: Mapping[str, Any] | None = None
    ) -> tuple[PhaseResult, DrillPhase]:
        self._event(spec, AuditKind.PHASE_STARTED, host=host, wave=wave, phase=phase, patch_id=spec.patch.id)
        started = self.clock.now()
        extravars = {
            **spec.extravars,
            **patch_vars({host: [spec.patch]}),
            "otorch_run_id": spec.drill_id,
            "otorch_phase": phase.value,
            "otorch_backup_id": f"{spec.drill_id}",
            **(extra or {}),
        }
        outcome = self.backend.run_phase(
            PhaseRequest(
                phase=phase,
                hosts=(host,),
                inventory=(spec.hosts_inventory or partial(phase_inventory, spec.inventory))((host,)),
                extravars=extravars,
                timeout_s=spec.phase_timeout_s,
                run_id=spec.drill_id,
                run_label=f"{spec.drill_id}-{host}-{phase.value}",
            )
        )
        finished = self.clock.now()
        result = outcome.results.get(host) or PhaseResult.model_validate(
            {
                "phase": phase,
                "host": host,
                "ok": False,
                "outcome": HostOutcome.NO_RESULT,
                "message": "no result from the backend",
            }
        )
        self.store.record_phase_result(spec.drill_id, wave, result, started, finished)
        ok = result.ok and result.outcome is HostOutcome.OK
        self._event(
            spec,
            AuditKind.PHASE_RESULT,
            host=host,
            wave=wave,
            phase=phase,
            patch_id=spec.patch.id,
            result="ok" if ok else "failed",
            detail={"brief": _brief(result)},
        )
        seconds = round((finished - started).total_seconds(), 3)
        self.progress(f"{host}: {phase.value} {'ok' if ok else 'FAILED'} ({seconds:.1f} s)")
        return result, DrillPhase(phase=phase, ok=ok, seconds=seconds, detail=_brief(result))

    # -- one host --------------------------------------------------------------------------------

    def _host(self, spec: DrillSpec, asset: Asset, wave: int) -> DrillHostResult:
        host = asset.name
        phases: list[DrillPhase] = []

        def done(state: HostState, message: str, **kw: Any) -> DrillHostResult:
            self._move(spec, host, wave, state, message)
            return DrillHostResult(
                host=host, passed=False, final_state=state, phases=tuple(phases), message=message, **kw
            )

        self._move(spec, host, wave, HostState.DIAGNOSING, "drill: baseline scan and diagnostics")
        before, step = self._phase(spec, host, wave, Phase.SCAN)
        phases.append(step)
        if not step.ok:
            return done(HostState.FAILED, f"baseline scan failed: {step.detail}")
        self.store.save_baseline(host, before, self.clock.now(), run_id=spec.drill_id)
        _, step = self._phase(spec, host, wave, Phase.DIAGNOSTICS)
        phases.append(step)
        if not step.ok:
            return done(HostState.BLOCKED, f"diagnostics failed: {step.detail}")

        self._move(spec, host, wave, HostState.BACKING_UP)
        backup, step = self._phase(spec, host, wave, Phase.BACKUP)
        phases.append(step)
        if not step.ok:
            return done(HostState.FAILED, f"backup failed, host untouched: {step.detail}")
        backup_id = backup.backup_id or spec.drill_id

        self._move(spec, host, wave, HostState.INSTALLING, f"drill: install {spec.patch.id}")
        _, step = self._phase(spec, host, wave, Phase.INSTALL)
        phases.append(step)
        verification_ok: bool | None = None
        if step.ok:
            self._move(spec, host, wave, HostState.VERIFYING)
            _, step = self._phase(spec, host, wave, Phase.VERIFY)
            phases.append(step)
            verification_ok = step.ok
            why = "verification passed" if step.ok else f"verification failed: {step.detail}"
        else:
            why = f"install failed: {step.detail}"

        self._move(spec, host, wave, HostState.ROLLING_BACK, f"drill: forced rollback ({why})")
        _, rollback = self._phase(spec, host, wave, Phase.ROLLBACK, {"otorch_backup_id": backup_id})
        phases.append(rollback)

        after, step = self._phase(spec, host, wave, Phase.SCAN)
        phases.append(step)
        if step.ok:
            differences = compare_scans(
                before.model_dump(mode="json", by_alias=True), after.model_dump(mode="json", by_alias=True)
            )
        else:
            differences = ()
        passed = rollback.ok and step.ok and not differences
        if passed:
            message = f"baseline restored in {rollback.seconds:.1f} s"
        elif not step.ok:
            message = f"post-rollback scan failed: {step.detail}"
        else:
            shown = "; ".join(d.describe() for d in differences[:MAX_LISTED])
            more = f"; and {len(differences) - MAX_LISTED} more" if len(differences) > MAX_LISTED else ""
            parts = (
                [f"{len(differences)} difference(s) from the baseline: {shown}{more}"] if differences else []
            )
            if not rollback.ok:
                parts.append(f"rollback reported failure: {rollback.detail}")
            message = "; ".join(parts)
        final = HostState.ROLLED_BACK if passed else HostState.ROLLBACK_FAILED
        self._move(spec, host, wave, final, message)
        return DrillHostResult(
            host=host,
            passed=passed,
            final_state=final,
            phases=tuple(phases),
            verification_ok=verification_ok,
            rollback_ok=rollback.ok,
            rollback_seconds=rollback.seconds,
            differences=differences,
            message=message,
        )

    # -- the drill -------------------------------------------------------------------------------

    def run(self, spec: DrillSpec) -> DrillReport:
        """Raises `DrillRefused` (before touching anything) for a safety-system host without a valid approval
        (see `safety_approvals`)."""
        approved, refused = safety_approvals(spec.assets, spec.approvals, spec.operator, self.clock.now())
        refused = {host: spec.approval_problems.get(host, why) for host, why in refused.items()}
        if refused:
            self.audit.append(
                AuditEvent(
                    at=self.clock.now(),
                    operator=spec.operator,
                    kind=DRILL_REFUSED,
                    run_id=spec.drill_id,
                    patch_id=spec.patch.id,
                    result="refused",
                    detail={
                        "hosts": list(refused),
                        "reason": "safety system without a valid approval",
                        "missing": refused,
                    },
                )
            )
            raise DrillRefused(refused, spec.signed_only)
        started = self.clock.now()
        digest = content_hash(
            {
                "patch": spec.patch.model_dump(mode="json"),
                "hosts": [a.name for a in spec.assets],
                "group": spec.group,
            }
        )
        self.store.create_run(
            RunRecord(
                run_id=spec.drill_id,
                operator=spec.operator,
                waveplan_hash=digest,
                plan_hash=f"drill:{spec.patch.id}",
                started_at=started,
                inventory_path=str(spec.inventory),
            )
        )
        self._event(
            spec,
            AuditKind.RUN_STARTED,
            patch_id=spec.patch.id,
            artifact_sha256=spec.patch.sha256,
            detail={
                "drill": True,
                "group": spec.group,
                "hosts": [a.name for a in spec.assets],
                "not_applicable": list(spec.not_applicable),
            },
        )
        for host, approval in approved.items():
            self._event(
                spec,
                APPROVAL_RECORDED,
                host=host,
                result="approved",
                detail={
                    "kind": approval.kind,
                    "approved_by": approval.approved_by,
                    "reason": approval.reason,
                    "approved_at": approval.at.isoformat(),
                    "consulted": list(spec.approvals_from),
                },
            )
        self.store.register_hosts(spec.drill_id, {a.name: i for i, a in enumerate(spec.assets)}, started)
        results: list[DrillHostResult] = []
        for wave, asset in enumerate(spec.assets):
            result = self._host(spec, asset, wave)
            results.append(result)
            self._event(
                spec,
                DRILL_RESULT,
                host=asset.name,
                wave=wave,
                patch_id=spec.patch.id,
                result="passed" if result.passed else "failed",
                detail={
                    "drill_id": spec.drill_id,
                    "rollback_seconds": result.rollback_seconds,
                    "verification_ok": result.verification_ok,
                    "differences": [d.describe() for d in result.differences],
                    "message": result.message,
                },
            )
        passed = bool(results) and all(r.passed for r in results)
        failed = [r.host for r in results if not r.passed]
        detail = "drill passed: every baseline restored" if passed else f"drill FAILED on {', '.join(failed)}"
        status = RunStatus.COMPLETED if passed else RunStatus.FAILED
        self.store.set_run_status(spec.drill_id, status, self.clock.now(), detail)
        self._event(spec, AuditKind.RUN_STATUS, result=status.value, detail={"detail": detail})
        return DrillReport(
            drill_id=spec.drill_id,
            group=spec.group,
            patch_id=spec.patch.id,
            package=spec.patch.package,
            operator=spec.operator,
            started_at=started,
            finished_at=self.clock.now(),
            hosts=tuple(results),
            not_applicable=spec.not_applicable,
            approvals=tuple(approved.values()),
        )
