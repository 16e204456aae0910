"""The compliance report per asset and the evidence chain per CVE (pure: `now` and sources passed in).

Flags follow the shape of NERC CIP-007-6 R2 (patch management), as a site would apply it to its own
assets (see docs/reports.md):
- R2.2: patches are evaluated for applicability at least once every `evaluation_days` (35) days;
- R2.3: within `evaluation_days` of an evaluation, each applicable patch is applied, or a dated
  mitigation plan exists (here: an exemption with compensating controls, an approver and an expiry);
- R2.4: a mitigation plan is implemented by its date (here: an expired exemption is a violation).
A stale or missing baseline is flagged as a warning (CIP-010 R1 style: a baseline that is kept current).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.plan import Decision, ExemptionRef, PlanItem
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditEvent, BaselineRecord, InstalledPatchRecord
from otorchestrator.planning.versions import compare, parse_version
from otorchestrator.reporting.models import (
    AssetCompliance,
    ComplianceReport,
    CveEvidence,
    EvidenceStep,
    ExemptionInfo,
    Flag,
    FlagLevel,
    InstalledInfo,
    PatchLine,
    PatchStatus,
)
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.sources import ComplianceSources, RunHistory
from otorchestrator.store.audit import AuditVerification

EVALUATION_DAYS = 35
SOON_DAYS = 7
R22 = "CIP-007 R2.2 (style)"
R23 = "CIP-007 R2.3 (style)"
R24 = "CIP-007 R2.4 (style)"
BASELINE_RULE = "CIP-010 R1 (style)"


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


def _line(
    item: PlanItem,
    patch: Patch | None,
    installed: InstalledPatchRecord | None,
    baseline: BaselineRecord | None,
    evaluated: datetime | None,
    evaluation_days: int,
    now: datetime,
    redactor: ReportRedactor,
) -> PatchLine:
    seen = _seen_in_baseline(patch, baseline) if installed is None else None
    exemption = _exemption(item.exemption, now, redactor) if item.exemption else None
    if installed is not None or seen is not None:
        status, reason = PatchStatus.INSTALLED, ""
        if installed is None and baseline is not None:
            reason = f"version {seen} seen in the baseline scan of {baseline.at:%Y-%m-%d}"
    elif item.decision is Decision.EXEMPT:
        status, reason = PatchStatus.EXEMPT, exemption.reason if exemption else ""
    elif item.decision is Decision.BLOCKED:
        status, reason = PatchStatus.BLOCKED, "; ".join(item.reasons)
    else:
        status, reason = PatchStatus.PENDING, f"decision {item.decision.value}"
    due = None
    if status in (PatchStatus.PENDING, PatchStatus.BLOCKED) and evaluated is not None:
        due = evaluated + timedelta(days=evaluation_days)
    return PatchLine(
        patch_id=item.patch_id,
        cves=item.cves,
        decision=item.decision.value,
        status=status,
        package=patch.package if patch else None,
        target_version=patch.target_version if patch else None,
        due=due,
        installed=_installed_info(installed) if installed else None,
        exemption=exemption,
        reason=redactor.text(reason, 400),
    )


def _evaluation_flags(evaluated: datetime | None, days: int | None, evaluation_days: int) -> list[Flag]:
    if evaluated is None or days is None:
        return [
            Flag(
                code="NO_EVALUATION",
                rule=R22,
                level=FlagLevel.VIOLATION,
                message="no patch evaluation (plan) covers this asset",
            )
        ]
    if days > evaluation_days:
        return [
            Flag(
                code="EVALUATION_OVERDUE",
                rule=R22,
                level=FlagLevel.VIOLATION,
                message=f"last evaluation {days} days ago (limit {evaluation_days})",
            )
        ]
    if days > evaluation_days - SOON_DAYS:
        return [
            Flag(
                code="EVALUATION_DUE_SOON",
                rule=R22,
                level=FlagLevel.WARNING,
                message=f"next evaluation due in {evaluation_days - days} days",
            )
        ]
    return []


def _patch_flags(line: PatchLine, now: datetime) -> list[Flag]:
    flags: list[Flag] = []
    if line.exemption is not None and line.status is PatchStatus.EXEMPT:
        ex = line.exemption
        if ex.expired:
            flags.append(
                Flag(
                    code="MITIGATION_PLAN_EXPIRED",
                    rule=R24,
                    level=FlagLevel.VIOLATION,
                    message=f"exemption {ex.id} expired on {ex.expires:%Y-%m-%d}: apply the patch or renew",
                    subject=line.patch_id,
                )
            )
        elif ex.days_left < SOON_DAYS:
            flags.append(
                Flag(
                    code="MITIGATION_PLAN_EXPIRES_SOON",
                    rule=R24,
                    level=FlagLevel.WARNING,
                    message=f"exemption {ex.id} expires in {ex.days_left} days",
                    subject=line.patch_id,
                )
            )
    if line.due is not None:
        if now >= line.due:
            flags.append(
                Flag(
                    code="MITIGATION_PLAN_MISSING",
                    rule=R23,
                    level=FlagLevel.VIOLATION,
                    message=f"{line.status.value} since the evaluation; due {line.due:%Y-%m-%d}: "
                    "neither applied nor covered by a dated mitigation plan",
                    subject=line.patch_id,
                )
            )
        elif (line.due - now).days < SOON_DAYS:
            flags.append(
                Flag(
                    code="APPLY_OR_MITIGATE_DUE_SOON",
                    rule=R23,
                    level=FlagLevel.WARNING,
                    message=f"apply or record a mitigation plan by {line.due:%Y-%m-%d}",
                    subject=line.patch_id,
                )
            )
    return flags


def _baseline_flags(age: int | None, evaluation_days: int) -> list[Flag]:
    if age is None:
        return [
            Flag(
                code="NO_BASELINE",
                rule=BASELINE_RULE,
                level=FlagLevel.WARNING,
                message="no baseline recorded: run `otorch scan`",
            )
        ]
    if age > evaluation_days:
        return [
            Flag(
                code="BASELINE_STALE",
                rule=BASELINE_RULE,
                level=FlagLevel.WARNING,
                message=f"baseline is {age} days old",
            )
        ]
    return []


def _asset(
    asset: Asset,
    sources: ComplianceSources,
    now: datetime,
    evaluation_days: int,
    redactor: ReportRedactor,
) -> AssetCompliance:
    plan = sources.plan
    patches = plan.patch_map() if plan else {}
    evaluated = plan.created_at if plan and asset.name in plan.asset_map() else None
    days = _days(evaluated, now) if evaluated else None
    baseline = sources.baselines.get(asset.name)
    age = _days(baseline.at, now) if baseline else None
    history = [h for h in sources.history if h.asset == asset.name]
    installed = {h.patch_id: h for h in history}  # latest per patch wins (history is oldest first)
    items = [i for i in (plan.items if plan else ()) if i.asset == asset.name]
    lines = tuple(
        _line(
            item,
            patches.get(item.patch_id),
            installed.get(item.patch_id),
            baseline,
            evaluated,
            evaluation_days,
            now,
            redactor,
        )
        for item in items
    )
    flags = _evaluation_flags(evaluated, days, evaluation_days)
    for line in lines:
        flags += _patch_flags(line, now)
    flags += _baseline_flags(age, evaluation_days)
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
    )


# -- evidence per CVE ------------------------------------------------------------------------------


def _staging(
    asset: str, patch_id: str, runs: Sequence[RunHistory]
) -> tuple[str | None, str | None, bool | None]:
    """(wave, verification, verified) from the latest run whose wave plan put this patch on this asset.

    A check-mode run (`otorch run --check`) changed nothing: it is no verification evidence and is skipped."""
    for history in reversed(runs):
        waveplan = history.waveplan
        if waveplan is None or history.run.check_mode:
            continue
        for wave in waveplan.waves:
            host = next((h for h in wave.hosts if h.name == asset and patch_id in h.patch_ids), None)
            if host is None:
                continue
            where = f"run {history.run.run_id}, wave {wave.index} ({wave.name})"
            verifies = [
                r for r in history.phase_results if r.result.host == asset and r.result.phase is Phase.VERIFY
            ]
            if not verifies:
                return where, None, None
            last = verifies[-1]
            if last.result.ok:
                return where, f"ok at {last.finished_at:%Y-%m-%d %H:%M} UTC", True
            failed = ", ".join(c.name for c in last.result.failed_checks) or last.result.outcome.value
            return where, f"failed at {last.finished_at:%Y-%m-%d %H:%M} UTC: {failed}", False
    return None, None, None


def audit_break(audit: AuditVerification | None) -> str | None:
    """Where the audit chain is broken ("line 7 (hash_mismatch: ...)"), or None when it verifies."""
    if audit is None or audit.ok:
        return None
    first = audit.problems[0] if audit.problems else None
    if first is None:
        return "an unknown point"
    return f"line {first.line} ({first.kind}: {first.detail})"


def _drill(
    asset: str, patch_id: str, events: Sequence[AuditEvent], broken: str | None = None
) -> tuple[bool | None, str | None, bool | None]:
    """(rollback tested, evidence, evidence verified) from the latest `drill_result` for asset and patch.

    When the audit chain does not verify (`broken`: where), the drill result is not counted: tested is None
    and the evidence reads "unverified: audit chain broken at ...", followed by what the log claims."""
    matching = [e for e in events if e.host == asset and e.patch_id == patch_id]
    if not matching:
        return None, None, None
    last = matching[-1]
    passed = last.result == "passed"
    seconds = last.detail.get("rollback_seconds")
    took = f", rollback {float(seconds):.1f} s" if isinstance(seconds, int | float) else ""
    drill = last.detail.get("drill_id") or last.run_id
    claim = f"drill {drill} at {last.at:%Y-%m-%d %H:%M} UTC: {last.result}{took} (audit seq {last.seq})"
    if broken is not None:
        return None, f"unverified: audit chain broken at {broken}; the log claims {claim}", False
    return passed, claim, True


def build_cve_evidence(sources: ComplianceSources) -> tuple[CveEvidence, ...]:
    plan = sources.plan
    if plan is None:
        return ()
    installed = {(h.asset, h.patch_id) for h in sources.history}
    broken = audit_break(sources.audit)
    steps: dict[str, list[EvidenceStep]] = {}
    kev: dict[str, bool] = {}
    cvss: dict[str, float | None] = {}
    for item in plan.items:
        wave, verification, verified = _staging(item.asset, item.patch_id, sources.runs)
        tested, evidence, evidence_ok = _drill(item.asset, item.patch_id, sources.drill_events, broken)
        for cve in item.cves:
            kev[cve] = kev.get(cve, False) or item.in_kev
            if item.cvss_max is not None:
                cvss[cve] = max(cvss.get(cve) or 0.0, item.cvss_max)
            steps.setdefault(cve, []).append(
                EvidenceStep(
                    asset=item.asset,
                    patch_id=item.patch_id,
                    decision=item.decision.value,
                    wave=wave,
                    verification=verification,
                    verified=verified,
                    rollback_tested=tested,
                    rollback_evidence=evidence,
                    rollback_verified=evidence_ok,
                    installed=(item.asset, item.patch_id) in installed,
                )
            )
    return tuple(
        CveEvidence(
            cve=cve,
            in_kev=kev.get(cve, False),
            cvss_max=cvss.get(cve),
            steps=tuple(sorted(found, key=lambda s: (s.asset, s.patch_id))),
        )
        for cve, found in sorted(steps.items())
    )


def build_compliance_report(
    assets: Sequence[Asset],
    sources: ComplianceSources,
    now: datetime,
    *,
    evaluation_days: int = EVALUATION_DAYS,
    redactor: ReportRedactor | None = None,
) -> ComplianceReport:
    redactor = redactor or ReportRedactor()
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
        evaluation_days=evaluation_days,
        plan_hash=plan.content_hash if plan else None,
        plan_created_at=plan.created_at if plan else None,
        assets=tuple(
            _asset(a, sources, now, evaluation_days, redactor) for a in sorted(assets, key=lambda a: a.name)
        ),
        evidence=build_cve_evidence(sources),
        notes=tuple(notes),
        audit_verified=audit.ok if audit is not None else None,
        audit_head_seq=audit.head_seq if audit is not None else None,
        audit_problems=tuple(
            redactor.text(f"line {p.line}: {p.kind}: {p.detail}", 300)
            for p in (audit.problems if audit else ())
        ),
    )
