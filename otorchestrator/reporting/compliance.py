"""The compliance report per asset and the evidence chain per CVE (pure: `now` and sources passed in).

Flags (made in `reporting.compliance_flags`) follow the shape of NERC CIP-007-6 R2 (patch management), as
a site would apply it to its own assets (see docs/reports.md):
- R2.2: patches are evaluated for applicability at least once every `evaluation_days` (35) days;
- R2.3: within `evaluation_days` of an evaluation, each applicable patch is applied, or a dated
  mitigation plan exists (here: an exemption with compensating controls, an approver and an expiry);
  the policy (`compliance:` in the wave policy) may set shorter clocks for KEV-listed and `immediate` items;
  a failed or rolled-back attempt leaves the clock running and is a warning naming the run and the reason;
- R2.4: a mitigation plan is implemented by its date (here: an expired exemption is a violation).
A stale or missing baseline is flagged as a warning (CIP-010 R1 style: a baseline that is kept current).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Decision, ExemptionRef, PlanItem
from otorchestrator.models.policy import ComplianceDeadlines
from otorchestrator.models.run import AuditEvent, BaselineRecord, InstalledPatchRecord
from otorchestrator.planning.versions import compare, parse_version
from otorchestrator.reporting.attempts import Attempt, AttemptOutcome, asset_attempts
from otorchestrator.reporting.compliance_flags import _baseline_flags, _evaluation_flags, _patch_flags
from otorchestrator.reporting.compliance_models import (
    AssetCompliance,
    AttemptRef,
    ComplianceReport,
    ExemptionInfo,
    InstalledInfo,
    PatchLine,
    PatchStatus,
    RollbackTest,
)
from otorchestrator.reporting.evidence import audit_break, build_cve_evidence
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.sources import ComplianceSources

EVALUATION_DAYS = 35


def _days(since: datetime, now: datetime) -> int:
    return (now - since).days


def _installed_info(record: InstalledPatchRecord) -> InstalledInfo:
    return InstalledInfo(
        run_id=record.run_id,
        operator=record.operator,
        at=record.at,
        from_version=record.from_version,
        to_version=record.to_version,
    )


def _exemption(ref: ExemptionRef, now: datetime, redactor: ReportRedactor) -> ExemptionInfo:
    return ExemptionInfo(
        id=ref.id,
        reason=redactor.text(ref.reason, 300),
        compensating_controls=tuple(redactor.text(c, 300) for c in ref.compensating_controls),
        approver=redactor.text(ref.approver, 120),
        expires=ref.expires,
        expired=now >= ref.expires,
        days_left=(ref.expires - now).days,
    )


def _seen_in_baseline(patch: Patch | None, baseline: BaselineRecord | None) -> str | None:
    """The installed version when the baseline shows the patch's fixed version (or later) installed."""
    if patch is None or patch.package is None or baseline is None:
        return None
    values = baseline.data.get("values", baseline.data)
    packages = values.get("packages") if isinstance(values, dict) else None
    if not isinstance(packages, dict) or patch.package not in packages:
        return None
    have, fixed = parse_version(str(packages[patch.package])), parse_version(patch.fixed_version)
    if have is None or fixed is None or compare(have, fixed) < 0:
        return None
    return str(packages[patch.package])


def _attempt_ref(a: Attempt) -> AttemptRef:
    wave = f"wave {a.wave} ({a.wave_name})" if a.wave is not None and a.wave_name else None
    return AttemptRef(run_id=a.run_id, wave=wave, at=a.at, outcome=a.outcome.value, reason=a.reason)


_ATTEMPT_STATUS = {
    AttemptOutcome.ROLLED_BACK: PatchStatus.ROLLED_BACK,
    AttemptOutcome.REVERSED: PatchStatus.ROLLED_BACK,
    AttemptOutcome.FAILED: PatchStatus.FAILED,
}


def _clock(
    item: PlanItem, evaluated: datetime | None, deadlines: ComplianceDeadlines
) -> tuple[datetime | None, str]:
    """(due, which clock): the shortest of the apply-or-mitigate clock and the policy's KEV / immediate."""
    if evaluated is None:
        return None, ""
    clocks = [(deadlines.apply_days, f"{deadlines.apply_days}-day apply-or-mitigate (CIP-007 R2.3 style)")]
    if item.in_kev and deadlines.kev_days is not None:
        clocks.append((deadlines.kev_days, f"KEV-listed: policy deadline {deadlines.kev_days} days"))
    if item.decision is Decision.IMMEDIATE and deadlines.immediate_days is not None:
        clocks.append(
            (deadlines.immediate_days, f"immediate: policy deadline {deadlines.immediate_days} days")
        )
    days, rule = min(clocks, key=lambda c: c[0])
    return evaluated + timedelta(days=days), rule


def _line(
    item: PlanItem,
    patch: Patch | None,
    installed: InstalledPatchRecord | None,
    attempts: Sequence[Attempt],
    baseline: BaselineRecord | None,
    evaluated: datetime | None,
    ctx: _Context,
) -> PatchLine:
    seen = _seen_in_baseline(patch, baseline) if installed is None else None
    exemption = _exemption(item.exemption, ctx.now, ctx.redactor) if item.exemption else None
    tried = [a for a in attempts if item.patch_id in a.patches and not a.changed_nothing and not a.check_mode]
    last = tried[-1] if tried else None
    if installed is not None or seen is not None:
        status, reason = PatchStatus.INSTALLED, "installed and verified"
        if installed is None and baseline is not None:
            reason = f"version {seen} seen in the baseline scan of {baseline.at:%Y-%m-%d}"
    elif item.decision is Decision.EXEMPT:
        status = PatchStatus.EXEMPT
        reason = f"mitigation plan: {exemption.reason}" if exemption else "exempt"
    elif last is not None and last.outcome in _ATTEMPT_STATUS:
        status, reason = _ATTEMPT_STATUS[last.outcome], f"run {last.run_id}: {last.reason}"
    elif item.decision is Decision.BLOCKED:
        status, reason = PatchStatus.BLOCKED, "; ".join(item.reasons) or "blocked by the plan"
    else:
        held = next((a for a in reversed(attempts) if item.patch_id in a.patches and a.changed_nothing), None)
        reason = f"decision {item.decision.value}, not yet applied"
        if held is not None:
            reason += f"; run {held.run_id}: {held.outcome.value.replace('_', ' ')}: {held.reason}"
        status = PatchStatus.PENDING
    due, rule = _clock(item, evaluated, ctx.deadlines) if status.clock_runs else (None, "")
    kev_due = min((d for c in item.cves if (d := ctx.kev_due.get(c)) is not None), default=None)
    return PatchLine(
        patch_id=item.patch_id,
        cves=item.cves,
        decision=item.decision.value,
        status=status,
        package=patch.package if patch else None,
        target_version=patch.target_version if patch else None,
        in_kev=item.in_kev,
        cvss_max=item.cvss_max,
        due=due,
        due_rule=rule,
        days_left=_days_left(due, ctx.now) if due else None,
        kev_due=kev_due,
        installed=_installed_info(installed) if installed else None,
        exemption=exemption,
        attempts=tuple(_attempt_ref(a) for a in tried),
        reason=ctx.redactor.text(reason, 400),
    )


def _days_left(due: datetime, now: datetime) -> int:
    """Whole days left (0: due today); negative once the clock ran out."""
    seconds = (due - now).total_seconds()
    return int(seconds // 86400)


@dataclass(frozen=True)
class _Context:
    now: datetime
    deadlines: ComplianceDeadlines
    redactor: ReportRedactor
    kev_due: dict[str, date]


def rollback_tests(
    asset: str, attempts: Sequence[Attempt], drills: Sequence[AuditEvent]
) -> list[RollbackTest]:
    """Real rollbacks in runs (the backup restored after a failed install or verification) and drills."""
    tests = [
        RollbackTest(
            kind="rollback",
            run_id=a.run_id,
            at=a.rolled_back_at or a.at,
            patches=a.patches,
            passed=True,
            detail=f"after {a.failed_phase or 'a'} failure: {a.reason}",
        )
        for a in attempts
        if a.outcome is AttemptOutcome.ROLLED_BACK and not a.check_mode
    ]
    tests += [
        RollbackTest(
            kind="drill",
            run_id=str(e.detail.get("drill_id") or e.run_id or ""),
            at=e.at,
            patches=(e.patch_id,) if e.patch_id else (),
            passed=e.result == "passed",
            detail=f"drill {e.result} (audit seq {e.seq})",
        )
        for e in drills
        if e.host == asset
    ]
    return sorted(tests, key=lambda t: t.at)


def _asset(asset: Asset, sources: ComplianceSources, ctx: _Context) -> AssetCompliance:
    plan, now = sources.plan, ctx.now
    apply_days = ctx.deadlines.apply_days
    patches = plan.patch_map() if plan else {}
    evaluated = plan.created_at if plan and asset.name in plan.asset_map() else None
    days = _days(evaluated, now) if evaluated else None
    baseline = sources.baselines.get(asset.name)
    age = _days(baseline.at, now) if baseline else None
    history = [h for h in sources.history if h.asset == asset.name]
    installed = {h.patch_id: h for h in history}  # latest per patch wins (history is oldest first)
    attempts = asset_attempts(asset.name, sources.views, sources.installs, plan)
    items = [i for i in (plan.items if plan else ()) if i.asset == asset.name]
    lines = tuple(
        _line(
            item, patches.get(item.patch_id), installed.get(item.patch_id), attempts, baseline, evaluated, ctx
        )
        for item in items
    )
    flags = _evaluation_flags(evaluated, days, apply_days)
    for line in lines:
        flags += _patch_flags(line, now)
    flags += _baseline_flags(age, apply_days)
    broken = audit_break(sources.audit)
    drills = [] if broken else sources.drill_events
    return AssetCompliance(
        asset=asset.name,
        zone=asset.zone,
        criticality=asset.criticality.value,
        safety_system=asset.safety_system,
        baseline_at=baseline.at if baseline else None,
        baseline_age_days=age,
        last_evaluation=evaluated,
        days_since_evaluation=days,
        patches=lines,
        history=tuple(_installed_info(h) for h in history),
        flags=tuple(flags),
        rollback_tests=tuple(rollback_tests(asset.name, attempts, drills)),
    )


def build_compliance_report(
    assets: Sequence[Asset],
    sources: ComplianceSources,
    now: datetime,
    *,
    deadlines: ComplianceDeadlines | None = None,
    redactor: ReportRedactor | None = None,
) -> ComplianceReport:
    redactor = redactor or ReportRedactor()
    deadlines = deadlines or ComplianceDeadlines()
    ctx = _Context(now=now, deadlines=deadlines, redactor=redactor, kev_due=sources.kev_due)
    plan = sources.plan
    notes = list(sources.notes)
    if plan is None:
        notes.append("no plan given: applicable patches unknown, every asset lacks an evaluation")
    audit = sources.audit
    broken = audit_break(audit)
    if broken is not None:
        notes.append(
            f"the audit chain does not verify (broken at {broken}): drill evidence read from it is marked "
            "unverified and not counted as rollback tested; run `otorch audit verify`"
        )
    return ComplianceReport(
        generated_at=now,
        evaluation_days=deadlines.apply_days,
        kev_days=deadlines.kev_days,
        immediate_days=deadlines.immediate_days,
        plan_hash=plan.content_hash if plan else None,
        plan_created_at=plan.created_at if plan else None,
        assets=tuple(_asset(a, sources, ctx) for a in sorted(assets, key=lambda a: a.name)),
        evidence=build_cve_evidence(sources, redactor),
        notes=tuple(notes),
        audit_verified=audit.ok if audit is not None else None,
        audit_head_seq=audit.head_seq if audit is not None else None,
        audit_problems=tuple(
            redactor.text(f"line {p.line}: {p.kind}: {p.detail}", 300)
            for p in (audit.problems if audit else ())
        ),
    )
