"""What a host's phase result means for the engine: good or not, and why not in a short line (no raw output).

Shared by the wave runner and the soak between waves (execution/soak.py), so both judge and word a failed
verify the same way."""

from __future__ import annotations

from otorchestrator.models.results import HostOutcome, Phase, PhaseResult


def good(result: PhaseResult) -> bool:
    return result.ok and result.outcome is HostOutcome.OK


def missing_result(phase: Phase, host: str, message: str) -> PhaseResult:
    return PhaseResult.model_validate(
        {"phase": phase, "host": host, "ok": False, "outcome": HostOutcome.NO_RESULT, "message": message}
    )


def why(result: PhaseResult) -> str:
    """A short reason for a failed phase result (no raw output)."""
    parts = [f"{result.phase.value} {result.outcome.value}"]
    failed = [c.name for c in result.failed_checks]
    if failed:
        parts.append("checks failed: " + ", ".join(failed))
    if result.failed_task:
        parts.append(f"task: {result.failed_task}")
    if result.message:
        parts.append(result.message[:200])
    return "; ".join(parts)
