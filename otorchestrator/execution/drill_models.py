"""What a rollback drill is (docs/drills.md): its spec, its report, which hosts it drills and which
approvals release a safety-system host. Pure: the engine that runs it is execution/drill.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from otorchestrator.execution.backend import HostsInventory
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Approval, Decision, content_hash
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import Rule, Wave, WaveHost, WaveItem
from otorchestrator.planning.drift import Difference

DRILL_RESULT = "drill_result"
DRILL_REFUSED = "drill_refused"
APPROVAL_RECORDED = "approval_recorded"
DRILL_PLAN_PREFIX = "drill:"  # a drill's run record: plan_hash = "drill:<patch id>"
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
    # restored, but nothing proven: a resumed drill whose install result was never recorded (killed
    # between the move to installing and the install's result); not passed, drill again
    inconclusive: bool = False

    @property
    def verdict(self) -> str:
        """The `drill_result` audit record's result: passed, inconclusive or failed."""
        return "passed" if self.passed else "inconclusive" if self.inconclusive else "failed"

    def evidence(self, drill_id: str) -> dict[str, Any]:
        """The `drill_result` audit record's detail (what the compliance report cites)."""
        return {
            "drill_id": drill_id,
            "rollback_seconds": self.rollback_seconds,
            "verification_ok": self.verification_ok,
            "differences": [d.describe() for d in self.differences],
            "message": self.message,
        }


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
    secret_vars: Mapping[str, str] = field(default_factory=dict, repr=False)  # never written anywhere
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


class DrillMismatch(ValueError):
    """`resume` was given a spec that is not the drill's (other patch, group or hosts): nothing touched."""


def drill_digest(spec: DrillSpec) -> str:
    """What the drill's run record holds as its `waveplan_hash`: patch, hosts and group."""
    return content_hash(
        {
            "patch": spec.patch.model_dump(mode="json"),
            "hosts": [a.name for a in spec.assets],
            "group": spec.group,
        }
    )


def phase_brief(result: PhaseResult) -> str:
    failed = [c.name for c in result.failed_checks]
    if failed:
        return ", ".join(failed)
    if result.outcome is not HostOutcome.OK or not result.ok:
        return f"{result.outcome.value}: {result.message}".strip(": ")
    return ""


def phase_ok(result: PhaseResult) -> bool:
    return result.ok and result.outcome is HostOutcome.OK


def phase_step(result: PhaseResult, seconds: float) -> DrillPhase:
    return DrillPhase(phase=result.phase, ok=phase_ok(result), seconds=seconds, detail=phase_brief(result))


def scan_data(result: PhaseResult) -> dict[str, object]:
    return result.model_dump(mode="json", by_alias=True)


def drill_wave(spec: DrillSpec, index: int, asset: Asset, at: datetime) -> Wave:
    """The drill host as a one-host wave, the form `PhaseJobs` builds jobs from. A drill runs now, outside
    any maintenance window: the window fields are the drill's start and are never consulted."""
    host = WaveHost(
        name=asset.name,
        zone=asset.zone,
        purdue_level=asset.purdue_level,
        role=asset.role,
        criticality=asset.criticality,
        safety_system=asset.safety_system,
        redundancy_group=asset.redundancy_group,
        items=(WaveItem(patch_id=spec.patch.id, priority_rank=1, decision=Decision.SCHEDULED),),
        duration_minutes=spec.patch.expected_duration_minutes,
        rollback_minutes=spec.patch.rollback_minutes,
        window_start=at,
        window_end=at,
        latest_start=at,
        placement_rule=Rule.RISK_ORDER,
        placement_reason="rollback drill",
    )
    return Wave(
        index=index, name=f"drill-{index}", kind="wave", slot_start=at, slot_end=at, failure_budget=0,
        hosts=(host,),
    )  # fmt: skip


def approval_detail(approval: Approval, consulted: Sequence[str]) -> dict[str, Any]:
    """The audit detail of `approval_recorded`: the approval that released a safety-system host."""
    return {
        "kind": approval.kind,
        "approved_by": approval.approved_by,
        "reason": approval.reason,
        "approved_at": approval.at.isoformat(),
        "consulted": list(consulted),
    }


def started_detail(spec: DrillSpec) -> dict[str, Any]:
    """The audit detail of the drill's `run_started`."""
    return {
        "drill": True,
        "group": spec.group,
        "patch_id": spec.patch.id,
        "artifact_sha256": spec.patch.sha256,
        "hosts": [a.name for a in spec.assets],
        "not_applicable": list(spec.not_applicable),
    }
