"""The compliance report's flags, in the shape of NERC CIP-007-6 R2 (see `reporting.compliance`): per asset,
its patch evaluation (R2.2), each patch line's attempts, clock and mitigation plan (R2.3, R2.4), and its
baseline (CIP-010 R1 style). Pure: the lines and `now` are passed in.
"""

from __future__ import annotations

from datetime import datetime

from otorchestrator.reporting.attempts import AttemptOutcome
from otorchestrator.reporting.compliance_models import Flag, FlagLevel, PatchLine, PatchStatus

SOON_DAYS = 7
R22 = "CIP-007 R2.2 (style)"
R23 = "CIP-007 R2.3 (style)"
R24 = "CIP-007 R2.4 (style)"
BASELINE_RULE = "CIP-010 R1 (style)"


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
    pid = line.patch_id
    if line.exemption is not None and line.status is PatchStatus.EXEMPT:
        ex = line.exemption
        controls = "; ".join(ex.compensating_controls) or "none recorded"
        if ex.expired:
            flags.append(
                Flag(
                    code="MITIGATION_PLAN_EXPIRED",
                    rule=R24,
                    level=FlagLevel.VIOLATION,
                    message=f"{pid}: exemption {ex.id} expired on {ex.expires:%Y-%m-%d}: "
                    "apply the patch or renew",
                    subject=pid,
                )
            )
        else:
            soon = ex.days_left < SOON_DAYS
            flags.append(
                Flag(
                    code="MITIGATION_PLAN_EXPIRES_SOON" if soon else "MITIGATION_PLAN",
                    rule=R24,
                    level=FlagLevel.WARNING if soon else FlagLevel.INFO,
                    message=f"{pid}: exempt under {ex.id} (approved by {ex.approver}), expires "
                    f"{ex.expires:%Y-%m-%d} ({ex.days_left} days left); controls: {controls}",
                    subject=pid,
                )
            )
    for attempt in line.attempts:
        if attempt.outcome == AttemptOutcome.INSTALLED.value:
            continue
        where = f"run {attempt.run_id}" + (f", {attempt.wave}" if attempt.wave else "")
        rolled = attempt.outcome in (AttemptOutcome.ROLLED_BACK.value, AttemptOutcome.REVERSED.value)
        flags.append(
            Flag(
                code="ATTEMPT_ROLLED_BACK" if rolled else "ATTEMPT_FAILED",
                rule=R23,
                level=FlagLevel.WARNING,
                message=f"{pid}: attempted in {where} at {attempt.at:%Y-%m-%d %H:%M} UTC, "
                f"{attempt.outcome.replace('_', ' ')}: {attempt.reason}",
                subject=pid,
            )
        )
    if line.due is not None and line.days_left is not None:
        kev = f"; KEV due date {line.kev_due:%Y-%m-%d}" if line.kev_due else ""
        state = line.status.value.replace("_", " ")
        if line.days_left < 0:
            flags.append(
                Flag(
                    code="DEADLINE_PASSED",
                    rule=R23,
                    level=FlagLevel.VIOLATION,
                    message=f"{pid}: {state}; due {line.due:%Y-%m-%d} ({line.due_rule}){kev}, "
                    f"{-line.days_left} days ago: neither applied nor covered by a dated mitigation plan",
                    subject=pid,
                )
            )
        else:
            soon = line.days_left < SOON_DAYS
            flags.append(
                Flag(
                    code="DUE_SOON" if soon else "CLOCK_RUNNING",
                    rule=R23,
                    level=FlagLevel.WARNING if soon else FlagLevel.INFO,
                    message=f"{pid}: {state}; due {line.due:%Y-%m-%d} ({line.due_rule}){kev}, "
                    f"{line.days_left} days left",
                    subject=pid,
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
