"""The evidence chain per CVE (pure): for a CVE, every asset it applies to, the decision and why, the wave,
the install, the verification, a rollback (in a run, or a drill) and the state now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from otorchestrator.models.plan import PlanItem
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditEvent
from otorchestrator.reporting.attempts import Attempt, AttemptOutcome, asset_attempts
from otorchestrator.reporting.compliance_models import CveEvidence, EvidenceStep
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.sources import ComplianceSources, RunHistory
from otorchestrator.store.audit import AuditVerification
from otorchestrator.store.history import InstallRow


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


def _install(asset: str, patch_id: str, rows: Sequence[InstallRow], tried: Sequence[Attempt]) -> str | None:
    done = [r for r in rows if r.record.asset == asset and r.record.patch_id == patch_id]
    if done:
        r = done[-1]
        text = (
            f"{r.record.from_version or '?'} -> {r.record.to_version or '?'} in run {r.record.run_id} "
            f"by {r.record.operator} at {r.record.at:%Y-%m-%d %H:%M} UTC (install #{r.id})"
        )
        if r.reversed_at:
            text += f", reversed by run {r.reversed_by_run} at {r.reversed_at:%Y-%m-%d %H:%M} UTC"
        return text
    if tried:
        a = tried[-1]
        target = ", ".join(f"{p} {v}" for p, v in a.versions_attempted.items()) or "the patch"
        return f"{target} attempted in run {a.run_id} at {a.at:%Y-%m-%d %H:%M} UTC: {a.outcome.value}"
    return None


def _rollback(tried: Sequence[Attempt]) -> str | None:
    rolled = [a for a in tried if a.outcome is AttemptOutcome.ROLLED_BACK]
    if not rolled:
        return None
    a = rolled[-1]
    when = f" at {a.rolled_back_at:%Y-%m-%d %H:%M} UTC" if a.rolled_back_at else ""
    return f"rolled back in run {a.run_id}{when}: {a.reason}"


def _state_now(item: PlanItem, rows: Sequence[InstallRow], tried: Sequence[Attempt], held: bool) -> str:
    done = [r for r in rows if r.record.asset == item.asset and r.record.patch_id == item.patch_id]
    if done and not done[-1].reversed_at:
        return f"installed ({done[-1].record.to_version or '?'})"
    if done:
        return "reversed by a rollback: not in effect"
    if tried:
        last = tried[-1]
        before = ", ".join(f"{p} {v}" for p, v in last.versions_after.items())
        return f"{last.outcome.value.replace('_', ' ')}: not in effect" + (f" ({before})" if before else "")
    if item.exemption is not None:
        return f"exempt until {item.exemption.expires:%Y-%m-%d} ({item.exemption.id})"
    if item.decision.value == "blocked":
        return "blocked by the plan: not applied"
    return "held: not applied" if held else "pending: not applied"


def build_cve_evidence(
    sources: ComplianceSources, redactor: ReportRedactor | None = None
) -> tuple[CveEvidence, ...]:
    plan = sources.plan
    if plan is None:
        return ()
    redactor = redactor or ReportRedactor()
    installed = {(h.asset, h.patch_id) for h in sources.history}
    broken = audit_break(sources.audit)
    steps: dict[str, list[EvidenceStep]] = {}
    kev: dict[str, bool] = {}
    cvss: dict[str, float | None] = {}
    attempts = {
        a: asset_attempts(a, sources.views, sources.installs, plan) for a in {i.asset for i in plan.items}
    }
    for item in plan.items:
        wave, verification, verified = _staging(item.asset, item.patch_id, sources.runs)
        tested, evidence, evidence_ok = _drill(item.asset, item.patch_id, sources.drill_events, broken)
        mine = [a for a in attempts[item.asset] if item.patch_id in a.patches and not a.check_mode]
        tried = [a for a in mine if not a.changed_nothing]
        held = any(a.outcome is AttemptOutcome.HELD for a in mine)
        if wave is None and mine:
            wave = f"run {mine[-1].run_id}: {mine[-1].outcome.value.replace('_', ' ')}"
        for cve in item.cves:
            kev[cve] = kev.get(cve, False) or item.in_kev
            if item.cvss_max is not None:
                cvss[cve] = max(cvss.get(cve) or 0.0, item.cvss_max)
            steps.setdefault(cve, []).append(
                EvidenceStep(
                    asset=item.asset,
                    patch_id=item.patch_id,
                    decision=item.decision.value,
                    why=redactor.text("; ".join(item.reasons), 600),
                    wave=wave,
                    verification=verification,
                    verified=verified,
                    install=_install(item.asset, item.patch_id, sources.installs, tried),
                    rollback=redactor.text(r, 600) if (r := _rollback(tried)) else None,
                    state_now=_state_now(item, sources.installs, tried, held),
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


def cve_lines(chain: CveEvidence, kev_due: date | None = None) -> list[str]:
    """The evidence chain as text, one block per asset (for `otorch report cve`)."""
    tags = [
        t for t in ("KEV" if chain.in_kev else "", f"CVSS {chain.cvss_max}" if chain.cvss_max else "") if t
    ]
    if kev_due is not None:
        tags.append(f"KEV due date {kev_due:%Y-%m-%d}")
    lines = [f"{chain.cve}" + (f" ({', '.join(tags)})" if tags else "") + f": {len(chain.steps)} asset(s)"]
    for s in chain.steps:
        lines.append(f"  {s.asset}  {s.patch_id}  decision {s.decision}")
        rows = (
            ("why", s.why),
            ("wave", s.wave),
            ("install", s.install),
            ("verification", s.verification),
            ("rollback", s.rollback),
            ("rollback drill", s.rollback_evidence),
            ("state now", s.state_now),
        )
        lines += [f"    {label + ':':<15} {value}" for label, value in rows if value]
    return lines
