"""The evidence per host of a run (pure): diagnostics values, the backup checksum verified on the
controller, approvals (who, when), the artifact re-check, the verification checks and the rollback proof.

Read from what the store and the audit log keep: the roles' structured phase results (set_stats) and the
authority's per-host audit events (`authority` admitted / refused with the approvals that admitted the host,
`artifact_recheck` just before its install). What the run did not record is said to be "not recorded".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Check, Phase, PhaseResult
from otorchestrator.models.run import (
    AuditEvent,
    BaselineRecord,
    HostState,
    HostStateRecord,
    PhaseResultRecord,
)
from otorchestrator.models.waves import WaveHost
from otorchestrator.reporting.checks import (
    describe,
    evidence_sentence,
    failure_sentence,
    rollback_proof,
    show,
)
from otorchestrator.reporting.models import EvidenceLine, EvidenceSection, EvidenceStatus
from otorchestrator.reporting.redact import ReportRedactor

AUTHORITY_EVENT = "authority"  # per host: result admitted | refused (execution/authority.py)
ARTIFACT_EVENT = "artifact_recheck"  # per host, before its install: result verified | refused
SAFETY_OVERRIDE_EVENT = "safety_override"  # run level: result artifact_check_skipped

S = EvidenceStatus


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else "an unknown time"


def _last(records: Sequence[PhaseResultRecord], phase: Phase) -> PhaseResultRecord | None:
    found = [r for r in records if r.result.phase is phase]
    return found[-1] if found else None


def _lines(checks: Sequence[Check], redactor: ReportRedactor) -> tuple[EvidenceLine, ...]:
    return tuple(
        EvidenceLine(name=redactor.text(c.name, 160), ok=c.ok, text=redactor.text(evidence_sentence(c), 600))
        for c in checks
    )


def _not_reached(kind: str, state: HostState) -> EvidenceSection:
    return EvidenceSection(kind=kind, status=S.NOT_RUN, summary=f"not reached (host {state.value})")


def _checked(
    kind: str, record: PhaseResultRecord, redactor: ReportRedactor, extra: Sequence[EvidenceLine] = ()
) -> EvidenceSection:
    """A phase's checks as a section: failed -> the failing checks' sentences; passed -> how many."""
    result = record.result
    lines = (*_lines(result.checks, redactor), *extra)
    if not (result.ok and result.outcome.value == "ok"):
        failed = [evidence_sentence(c) for c in result.failed_checks]
        # the failing checks with their values; without any, why the phase failed (outcome, task, message)
        summary = "; ".join(failed) if failed else failure_sentence(result)
        status = S.FAILED
    else:
        status = S.PASSED
        summary = f"{len(result.checks)} checks, none failed" if result.checks else "no checks reported"
    return EvidenceSection(
        kind=kind, status=status, summary=redactor.text(summary, 800), at=record.finished_at, lines=lines
    )


def diagnostics(
    state: HostStateRecord, records: Sequence[PhaseResultRecord], redactor: ReportRedactor
) -> EvidenceSection:
    record = _last(records, Phase.DIAGNOSTICS)
    if record is None:
        return _not_reached("diagnostics", state.state)
    installed = record.result.values.get("installed")
    extra = [EvidenceLine(name="installed", text=f"installed: {show(installed)}")] if installed else []
    section = _checked("diagnostics", record, redactor, extra)
    if section.status is S.FAILED and state.state is HostState.BLOCKED:
        summary = f"refused the host before any change: {section.summary}"
        section = section.model_copy(update={"summary": summary})
    return section


def backup(
    state: HostStateRecord, records: Sequence[PhaseResultRecord], redactor: ReportRedactor
) -> EvidenceSection:
    record = _last(records, Phase.BACKUP)
    if record is None:
        return _not_reached("backup", state.state)
    section = _checked("backup", record, redactor)
    if section.status is S.FAILED:
        return section
    result = record.result
    checksum = next((c for c in result.checks if c.name == "checksum_verified"), None)
    name = f"backup {result.backup_id or state.backup_id or '(no id)'}"
    if checksum is None:
        return section.model_copy(
            update={"status": S.NOT_RECORDED, "summary": f"{name}: controller-side checksum not recorded"}
        )
    return section.model_copy(update={"summary": redactor.text(f"{name}: {describe(checksum)}", 400)})


def _approval_line(kind: str, subject: str, by: str, at: datetime, reason: str) -> str:
    return f"{kind} approval of {subject} by {by} at {_when(at)}: {reason}"


def approvals(
    host: WaveHost | None, events: Sequence[AuditEvent], redactor: ReportRedactor
) -> EvidenceSection:
    """The approvals the plan recorded for the host, and the run-time check that admitted it."""
    lines: list[EvidenceLine] = []
    if host is not None and host.approval is not None:
        ap = host.approval
        text = _approval_line(ap.kind, ap.subject, ap.approved_by, ap.at, ap.reason)
        lines.append(EvidenceLine(name="plan", ok=True, text=text))
    for item in host.items if host else ():
        if item.override is not None:
            o = item.override
            text = _approval_line("unqualified-patch", item.patch_id, o.approved_by, o.at, o.reason)
            lines.append(EvidenceLine(name="plan", ok=True, text=text))
    checks = [e for e in events if e.kind == AUTHORITY_EVENT and e.result in ("admitted", "refused")]
    if not checks:
        planned = "; ".join(line.text for line in lines)
        summary = (
            f"in the plan: {planned}; run-time approval check: no audit record for this host"
            if lines
            else "none in the plan; run-time approval check: no audit record for this host"
        )
        return EvidenceSection(
            kind="approvals", status=S.NOT_RECORDED, summary=redactor.text(summary, 800), lines=tuple(lines)
        )
    event = checks[-1]
    if event.result == "refused":
        reason = show(event.detail.get("reason")) if event.detail.get("reason") else "no reason recorded"
        return EvidenceSection(
            kind="approvals",
            status=S.FAILED,
            summary=redactor.text(f"refused at run time ({_when(event.at)}): {reason}", 800),
            at=event.at,
            lines=tuple(lines),
        )
    found: list[dict[str, Any]] = [a for a in event.detail.get("approvals") or [] if isinstance(a, dict)]
    for a in found:
        text = (
            f"{show(a.get('kind'))} approval by {show(a.get('approver'))} verified at run time "
            f"({_when(event.at)}): file {show(a.get('file'))} (sha256 {show(a.get('sha256'))}), "
            f"valid until {show(a.get('valid_until'))}"
        )
        lines.append(EvidenceLine(name="run time", ok=True, text=redactor.text(text, 600)))
    if found:
        who = ", ".join(f"{show(a.get('approver'))} ({show(a.get('kind'))})" for a in found)
        summary = f"approved by {who}; signatures verified when the host was admitted at {_when(event.at)}"
    else:
        summary = f"no approval needed; admitted at {_when(event.at)}"
    return EvidenceSection(
        kind="approvals",
        status=S.PASSED if found else S.NOT_NEEDED,
        summary=redactor.text(summary, 800),
        at=event.at,
        lines=tuple(lines),
    )


def _artifact_line(entry: dict[str, Any], against: str) -> EvidenceLine:
    pid, expected, actual = (
        show(entry.get("patch_id")),
        entry.get("expected_sha256"),
        entry.get("actual_sha256"),
    )
    file = show(entry.get("file")) if entry.get("file") else "artifact"
    if actual is None:
        text = f"{pid}: artifact not found (expected sha256 {show(expected)})"
    elif entry.get("ok"):
        text = f"{pid}: {file} sha256 {show(actual)}, equal to the {against}'s"
    else:
        text = f"{pid}: {file} sha256 {show(actual)}, the {against} says {show(expected)}"
    return EvidenceLine(name=pid, ok=bool(entry.get("ok")), text=text)


def artifact(
    events: Sequence[AuditEvent], run_events: Sequence[AuditEvent], redactor: ReportRedactor
) -> EvidenceSection:
    """The artifact re-hash just before the host's install (the authority's `artifact_recheck`)."""
    found = [e for e in events if e.kind == ARTIFACT_EVENT]
    if not found:
        skipped = [
            e for e in run_events if e.kind == SAFETY_OVERRIDE_EVENT and e.result == "artifact_check_skipped"
        ]
        if skipped:
            reason = show(skipped[-1].detail.get("reason"))
            text = f"artifact check turned off by the operator at {_when(skipped[-1].at)}: {reason}"
            return EvidenceSection(kind="artifact", status=S.SKIPPED, summary=redactor.text(text, 600))
        return EvidenceSection(
            kind="artifact",
            status=S.NOT_RECORDED,
            summary="no re-hash of the artifact before the install is on the audit record for this host",
        )
    event = found[-1]
    against = show(event.detail.get("against") or "catalog")
    entries = [p for p in event.detail.get("patches") or [] if isinstance(p, dict)]
    lines = tuple(_artifact_line(p, against) for p in entries)
    if event.result == "verified":
        summary = (
            f"{len(entries)} artifact(s) re-hashed at {_when(event.at)}, equal to the {against}'s sha256"
        )
        status = S.PASSED
    else:
        reason = show(event.detail.get("reason")) if event.detail.get("reason") else "no reason recorded"
        summary, status = f"refused at {_when(event.at)}: {reason}; not installed", S.FAILED
    return EvidenceSection(
        kind="artifact", status=status, summary=redactor.text(summary, 800), at=event.at, lines=lines
    )


def verification(
    state: HostStateRecord, records: Sequence[PhaseResultRecord], redactor: ReportRedactor
) -> EvidenceSection:
    record = _last(records, Phase.VERIFY)
    return _checked("verification", record, redactor) if record else _not_reached("verification", state.state)


def _ports(values: dict[str, Any]) -> list[int] | None:
    ports = values.get("listening_tcp_ports")
    return sorted(int(p) for p in ports) if isinstance(ports, list) else None


def baseline_lines(result: PhaseResult, baseline: BaselineRecord | None) -> list[EvidenceLine]:
    """The restored config files and ports compared with the host's last baseline scan before the run
    (`otorch scan`), besides the backup the rollback compared them with."""
    if baseline is None:
        return [EvidenceLine(name="baseline", text="no baseline scan recorded before the run")]
    raw = baseline.data.get("values")
    values: dict[str, Any] = raw if isinstance(raw, dict) else dict(baseline.data)
    found = values.get("config_sha256")
    scanned: dict[str, Any] = found if isinstance(found, dict) else {}
    when = f"the baseline scan of {_when(baseline.at)}"
    lines = []
    for check in result.checks:
        if not check.name.startswith("config:"):
            continue
        path = check.name.split(":", 1)[1]
        if path not in scanned:
            lines.append(EvidenceLine(name=f"baseline:{path}", text=f"{path}: not in {when}"))
            continue
        same = show(scanned[path]) == show(check.value)
        text = f"{path} sha256 {show(check.value)}, " + (
            f"equal to {when}" if same else f"differs from {when} ({show(scanned[path])})"
        )
        lines.append(EvidenceLine(name=f"baseline:{path}", ok=same, text=text))
    before, now = _ports(values), _ports(result.values)
    if before is not None and now is not None:
        missing = sorted(set(before) - set(now))
        text = (
            f"every TCP port listening in {when} listens again ({show(before)})"
            if not missing
            else f"TCP ports listening in {when} but not now: {show(missing)}"
        )
        lines.append(EvidenceLine(name="baseline:ports", ok=not missing, text=text))
    return lines


def rollback(
    state: HostStateRecord,
    records: Sequence[PhaseResultRecord],
    rolled: bool,
    redactor: ReportRedactor,
    baseline: BaselineRecord | None = None,
) -> EvidenceSection | None:
    """The rollback proof: each restored item compared with the pre-patch baseline the backup recorded.
    None when the host was never rolled back."""
    record = _last(records, Phase.ROLLBACK)
    if record is None:
        if not rolled:
            return None
        return EvidenceSection(kind="rollback", status=S.NOT_RECORDED, summary="rollback result not recorded")
    result = record.result
    extra: list[EvidenceLine] = []
    taken = _last(records, Phase.BACKUP)
    before = _ports(taken.result.values) if taken else None
    now = _ports(result.values)
    if before is not None and now is not None:
        same = now == before
        text = f"listening TCP ports {show(now)}" + (
            ", as before the patch" if same else f", before the patch {show(before)}"
        )
        extra.append(EvidenceLine(name="listening_tcp_ports", ok=same, text=text))
    extra += baseline_lines(result, baseline)
    section = _checked("rollback", record, redactor, extra)
    name = f"backup {result.backup_id or state.backup_id or '(no id)'}"
    if section.status is S.PASSED:
        summary = f"restored from {name}: {rollback_proof(result)}"
    else:
        summary = f"rollback from {name} did not restore the baseline: {section.summary}"
    return section.model_copy(update={"summary": redactor.text(summary, 1200)})
