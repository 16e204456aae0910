"""Authority at run time: the one place where a run checks what it is about to do against its sources.

Run level (before the run lock, on `run` and `resume`): the wave plan's signature by a planner, that it was
staged from the signed plan it names, and the operator's identity (a signature by the operator's key).
Host level (just before each host starts, every backend): criticality, safety flag, redundancy group, zone
and windows re-derived from the inventory as it is now; the patches from the catalog (and the host must
run the product each patch is for); approvals only from verified approval files. A host that fails is
refused with the reason; the other hosts of its wave are not affected.

The checks are pure functions (`host_problems`); `Authority` reads the files they need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from otorchestrator.execution.artifacts import ArtifactRecheck, Digests, recheck_hosts
from otorchestrator.execution.safety import SafetyProblem, check_approval
from otorchestrator.models.asset import Asset, Criticality
from otorchestrator.models.catalog import Catalog, Patch, Qualification
from otorchestrator.models.plan import Plan
from otorchestrator.models.run import AuditEvent
from otorchestrator.models.waves import WaveHost, WavePlan
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import Need, SignedApproval, assess, read_approvals
from otorchestrator.trust.signed import Kind, verify_bytes, verify_file
from otorchestrator.trust.sshsig import SshSigError
from otorchestrator.trust.staging import staged_from
from otorchestrator.trust.trustfile import ApprovalKind, SiteTrust, TwoApprovers

_FACTS = ("zone", "criticality", "safety_system", "redundancy_group")
_PATCH_FIELDS = ("vendor", "product", "package", "target_version", "sha256", "artifact", "qualification")


def runs_product(asset: Asset, patch: Patch) -> bool:
    """The asset has the product the patch is for (same vendor and product; same package when both say)."""
    for product in asset.installed_products:
        if product.vendor != patch.vendor or product.product != patch.product:
            continue
        if product.package and patch.package and product.package != patch.package:
            continue
        return True
    return False


@dataclass(frozen=True)
class HostContext:
    """Everything read from the authoritative sources for one admit round."""

    assets: Mapping[str, Asset]  # the inventory now
    inventory_source: str
    catalog: Mapping[str, Patch] | None  # the catalog now (None: no catalog given)
    trust: SiteTrust | None
    approvals: Sequence[SignedApproval]
    operator: str
    now: datetime
    rejected: Sequence[tuple[str, str]] = ()  # approval files that did not verify: (file name, why)


def _needs(trust: SiteTrust, asset: Asset, kind: ApprovalKind, patches: tuple[str, ...]) -> Need:
    two = set(trust.spec.two_approvers)
    double = (
        (kind is ApprovalKind.UNQUALIFIED_PATCH and TwoApprovers.UNQUALIFIED_PATCH in two)
        or (kind is ApprovalKind.ASSET and asset.safety_system and TwoApprovers.SAFETY_SYSTEM in two)
        or (
            kind is ApprovalKind.ASSET
            and asset.criticality.rank >= Criticality.HIGH.rank
            and TwoApprovers.HIGH_CRITICALITY in two
        )
    )
    return Need(kind, asset.name, asset.site, asset.zone, asset.safety_system, patches, double)


@dataclass(frozen=True)
class HostVerdict:
    problems: list[str]  # why the host must not start now (empty: it may)
    approvals: tuple[SignedApproval, ...] = ()  # the signed approvals that admit it


def host_problems(waveplan: WavePlan, host: WaveHost, ctx: HostContext) -> list[str]:
    """Why `host` must not start now (empty: it may)."""
    return host_verdict(waveplan, host, ctx).problems


def host_verdict(waveplan: WavePlan, host: WaveHost, ctx: HostContext) -> HostVerdict:
    """Whether `host` may start now, and which signed approvals admit it."""
    asset = ctx.assets.get(host.name)
    if asset is None:
        return HostVerdict(
            [f"not in the inventory {ctx.inventory_source}: refusing a host the site does not list"]
        )
    problems: list[str] = []
    for name in _FACTS:
        planned, actual = getattr(host, name), getattr(asset, name)
        if planned != actual:
            problems.append(f"{name} is {actual!s} in the inventory, {planned!s} in the wave plan")
    embedded = waveplan.asset_map().get(host.name)
    if embedded is None:
        problems.append("the wave plan embeds no asset record for this host")
    elif embedded.maintenance_windows != asset.maintenance_windows:
        problems.append("its maintenance windows in the inventory differ from the wave plan's")
    planned_patches = waveplan.patch_map()
    for patch_id in host.patch_ids:
        patch = planned_patches.get(patch_id)
        if patch is None:
            problems.append(f"patch {patch_id} is not in the wave plan's patches")
            continue
        if ctx.catalog is not None:
            current = ctx.catalog.get(patch_id)
            if current is None:
                problems.append(f"patch {patch_id} is not in the catalog")
                continue
            changed = [f for f in _PATCH_FIELDS if getattr(current, f) != getattr(patch, f)]
            if changed:
                problems.append(f"patch {patch_id}: {', '.join(changed)} differ from the catalog")
                continue
            patch = current
        if not runs_product(asset, patch):
            have = ", ".join(f"{p.product} {p.version}" for p in asset.installed_products) or "nothing"
            problems.append(
                f"does not run {patch.vendor} {patch.product}, which patch {patch_id} is for "
                f"(the inventory lists: {have})"
            )
    if problems:
        return HostVerdict(problems)
    return _approval_verdict(waveplan, host, asset, ctx)


def _approval_verdict(waveplan: WavePlan, host: WaveHost, asset: Asset, ctx: HostContext) -> HostVerdict:
    trust = ctx.trust
    if trust is None:  # no trust file: the wave plan's own record of an approval (docs/trust.md)
        problem = check_approval(waveplan, host)
        return HostVerdict([problem.detail] if problem else [])
    problems: list[str] = []
    admitted: list[SignedApproval] = []
    if waveplan.policy.needs_approval(asset.criticality, asset.safety_system):
        need = _needs(trust, asset, ApprovalKind.ASSET, host.patch_ids)
        verdict = assess(need, ctx.approvals, trust, ctx.operator, waveplan.plan_hash, ctx.now)
        admitted += verdict.admitted
        if verdict.problem:
            what = "safety system" if asset.safety_system else f"{asset.criticality.value} criticality"
            problems.append(f"{what}: {verdict.problem}{_rejected_for(ctx, asset.name)}")
    patches = ctx.catalog or waveplan.patch_map()
    for patch_id in host.patch_ids:
        patch = patches.get(patch_id)
        if patch is None or patch.qualification is Qualification.QUALIFIED:
            continue
        need = _needs(trust, asset, ApprovalKind.UNQUALIFIED_PATCH, (patch_id,))
        verdict = assess(need, ctx.approvals, trust, ctx.operator, waveplan.plan_hash, ctx.now)
        admitted += verdict.admitted
        if verdict.problem:
            problems.append(f"patch {patch_id} is {patch.qualification.value}: {verdict.problem}")
    return HostVerdict(problems, () if problems else tuple(admitted))


def _rejected_for(ctx: HostContext, name: str) -> str:
    """The approval files naming this host that were rejected, and why (an unknown key, altered, ...)."""
    found = [f"{file}: {why}" for file, why in ctx.rejected if f"-{name}-" in file]
    return f"; rejected approval files: {'; '.join(found)}" if found else ""


def run_message(run_id: str, waveplan_hash: str, operator: str) -> bytes:
    """What an operator signs to start or resume a run (namespace otorch-run)."""
    return f"otorch run {run_id} waveplan {waveplan_hash} operator {operator}\n".encode()


@dataclass(frozen=True)
class Admission:
    """`problem` None: the host may start; `detail` is what the audit log records either way."""

    problem: SafetyProblem | None
    detail: dict[str, object]


@dataclass
class Authority:
    """Reads the authoritative sources; `check_run` once per invocation, `check_host` per host."""

    trust: SiteTrust | None
    read_inventory: Callable[[], tuple[Mapping[str, Asset], str]]  # (assets by name, source)
    read_catalog: Callable[[], Catalog] | None = None
    waveplan_file: Path | None = None
    plan_file: Path | None = None
    read_plan: Callable[[Path], Plan] | None = None
    operator_key: Path | None = None
    approvals_dir: Path | None = None
    artifact_digests: Digests | None = None  # re-hashes artifacts per host before install (None: check off)
    evidence: dict[str, object] = field(default_factory=dict)  # what was verified, for the audit log
    _ctx: HostContext | None = None

    def check_run(self, waveplan: WavePlan, operator: str, run_id: str) -> list[SafetyProblem]:
        problems: list[str] = []
        trust = self.trust
        if trust is None:
            self.evidence["trust"] = "no trust file: signatures not checked (docs/trust.md)"
        else:
            self.evidence["trust"] = str(trust.path)
            problems += self._check_operator(trust, waveplan, operator, run_id)
            problems += self._check_signed(trust, Kind.WAVEPLAN, self.waveplan_file, "--waveplan")
            problems += self._check_signed(trust, Kind.PLAN, self.plan_file, "--plan")
        if self.plan_file is not None and self.read_plan is not None and not problems:
            try:
                plan = self.read_plan(self.plan_file)
            except ValueError as exc:
                problems.append(f"{self.plan_file}: {exc}")
            else:
                problems += [f"{self.plan_file}: {p}" for p in staged_from(plan, waveplan)]
                self.evidence["staged_from"] = plan.content_hash
        return [SafetyProblem("authority", p) for p in problems]

    def _check_signed(self, trust: SiteTrust, kind: Kind, path: Path | None, option: str) -> list[str]:
        if path is None:
            return [f"the trust file {trust.path} requires a signed {kind.value}: pass {option} FILE"]
        try:
            verified = verify_file(path, trust, kind)
        except SshSigError as exc:
            return [str(exc)]
        self.evidence[f"{kind.value}_signed_by"] = verified.signer
        return []

    def _check_operator(self, trust: SiteTrust, waveplan: WavePlan, operator: str, run_id: str) -> list[str]:
        if not trust.may_operate(operator):
            listed = ", ".join(trust.spec.operators)
            return [f"{operator} is not an operator in {trust.path} (operators: {listed})"]
        if not trust.spec.operators:
            return []
        if self.operator_key is None:
            return [f"the trust file lists operators: prove you are {operator} with --key (your SSH key)"]
        message = run_message(run_id, waveplan.content_hash, operator)
        try:
            signature = sshsig.sign(message, self.operator_key, Kind.RUN.namespace)
            signer = verify_bytes(message, signature, trust, Kind.RUN, f"--key {self.operator_key}")
        except SshSigError as exc:
            return [str(exc)]
        if signer != operator:
            return [f"--key {self.operator_key} is {signer}'s key, not {operator}'s"]
        self.evidence["operator_signature"] = signature
        return []

    def refresh(self, operator: str, now: datetime) -> HostContext:
        """Read the inventory, the catalog and the approvals as they are now (once per admit round)."""
        assets, source = self.read_inventory()
        catalog = self.read_catalog().by_id() if self.read_catalog is not None else None
        approvals: tuple[SignedApproval, ...] = ()
        rejected: list[tuple[str, str]] = []
        if self.trust is not None:
            where = self.approvals_dir or self.trust.approvals_dir
            approvals, bad = read_approvals(where, self.trust)
            rejected = [(r.path.name, r.reason) for r in bad]
        self._ctx = HostContext(assets, source, catalog, self.trust, approvals, operator, now, rejected)
        return self._ctx

    def check_host(
        self, waveplan: WavePlan, host: WaveHost, operator: str, now: datetime
    ) -> SafetyProblem | None:
        return self.admit(waveplan, host, operator, now).problem

    def admit(self, waveplan: WavePlan, host: WaveHost, operator: str, now: datetime) -> Admission:
        """Whether `host` may start now (the sources as the last `refresh` read them)."""
        ctx = self._ctx if self._ctx is not None else self.refresh(operator, now)
        verdict = host_verdict(waveplan, host, ctx)
        if not verdict.problems:
            return Admission(None, {"approvals": [a.evidence() for a in verdict.approvals]})
        problem = SafetyProblem("authority", "refused: " + "; ".join(verdict.problems), host=host.name)
        return Admission(problem, {"reason": problem.detail})

    def recheck_artifacts(self, waveplan: WavePlan, hosts: Sequence[WaveHost]) -> list[ArtifactRecheck]:
        """Just before `hosts` install: each one's artifacts re-hashed against the catalog as it is now
        (the wave plan's copy when no catalog is given). Empty when the artifact check is off."""
        if self.artifact_digests is None:
            return []
        catalog = self.read_catalog().by_id() if self.read_catalog is not None else None
        return recheck_hosts(waveplan, hosts, catalog, self.artifact_digests)


def admissions(events: Iterable[AuditEvent]) -> dict[str, list[str]]:
    """host -> the signed approval files that admitted it (from the `authority`/`admitted` audit events)."""
    out: dict[str, list[str]] = {}
    for event in events:
        if event.kind == "authority" and event.result == "admitted" and event.host:
            files = [str(a.get("file")) for a in event.detail.get("approvals", ()) if isinstance(a, dict)]
            if files:
                out[event.host] = files
    return out
