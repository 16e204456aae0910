"""Resume after a crash: decide what a host found mid-step is, from a fresh probe. Pure.

A host caught in an active state (diagnosing ... rolling_back) goes to `needs_reconcile`; the orchestrator
probes it (the read-only verify playbook: installed versions and service health) and `decide` maps
(state before the crash, probe) to the next state. No decision ever leads to a second install of a host
whose install already took effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.run import HostState, Transition

# a backend sets `values[NOT_STARTED] = True` on a lost host's result when the job never reached the host
# (e.g. its execution node did not answer before the job): nothing can have changed there
NOT_STARTED = "not_started"
# phases after the first change: a host lost in one of them is in an unknown state
_AFTER_CHANGE = (Phase.INSTALL, Phase.VERIFY, Phase.ROLLBACK)
_LOST = {HostOutcome.UNREACHABLE: HostState.UNREACHABLE, HostOutcome.TIMED_OUT: HostState.TIMED_OUT}


class Found(StrEnum):
    TARGET = "target"  # every patched package is at its target version
    BASELINE = "baseline"  # no patched package changed
    MIXED = "mixed"  # some at target, or versions neither baseline nor target
    UNKNOWN = "unknown"  # the probe reported no versions


@dataclass(frozen=True)
class Reconciliation:
    state: HostState  # the state to move to from needs_reconcile
    reason: str
    found: Found
    healthy: bool | None = None


def lost_state(result: PhaseResult) -> tuple[HostState, str]:
    """The state (and a note for the detail) of a host a phase lost (`result.outcome` unreachable or
    timed out): `needs_reconcile` when an install, its verify or a rollback had begun on it (outcome
    unknown: `otorch resume` re-probes it before anything else acts on it); otherwise the plain lost state
    (nothing changed yet, retried on resume)."""
    lost = _LOST[result.outcome]
    if result.phase in _AFTER_CHANGE and not result.values.get(NOT_STARTED):
        note = f"lost mid-{result.phase.value}, outcome unknown: resume re-probes it"
        return HostState.NEEDS_RECONCILE, note
    return lost, ""


def state_before_crash(transitions: Sequence[Transition]) -> HostState | None:
    """The last state the host was in before reconciliation began (history in write order)."""
    for transition in reversed(transitions):
        if transition.to_state is not HostState.NEEDS_RECONCILE:
            return transition.to_state
    return None


def classify(versions: Mapping[str, str], targets: Mapping[str, str], baseline: Mapping[str, str]) -> Found:
    if not targets:
        return Found.TARGET
    seen = {pkg: versions.get(pkg) for pkg in targets}
    if any(v is None for v in seen.values()):
        return Found.UNKNOWN
    if all(seen[pkg] == target for pkg, target in targets.items()):
        return Found.TARGET
    if all(pkg in baseline and seen[pkg] == baseline[pkg] for pkg in targets):
        return Found.BASELINE
    if not any(seen[pkg] == target for pkg, target in targets.items()) and not baseline:
        return Found.BASELINE  # no baseline recorded yet and nothing at target: unchanged
    return Found.MIXED


def probe_versions(probe: PhaseResult) -> dict[str, str]:
    return dict(probe.versions_after or probe.versions_before or probe.values.get("versions", {}) or {})


def decide(
    before: HostState | None,
    probe: PhaseResult | None,
    targets: Mapping[str, str],
    baseline: Mapping[str, str],
    backup_id: str | None,
    install_done: bool,
) -> Reconciliation:
    """`before`: the state at the crash; `install_done`: an install phase of this host already reported
    success in this run (then the host is never installed again)."""
    if probe is None or probe.outcome is HostOutcome.UNREACHABLE:
        return Reconciliation(
            HostState.UNREACHABLE, "probe: host unreachable; state unknown, resume again", Found.UNKNOWN
        )
    if probe.outcome is HostOutcome.TIMED_OUT:
        return Reconciliation(HostState.TIMED_OUT, "probe timed out; state unknown", Found.UNKNOWN)
    found = classify(probe_versions(probe), targets, baseline)
    healthy = probe.ok if found is Found.TARGET else None
    rolling_back = before is HostState.ROLLING_BACK
    if found is Found.UNKNOWN:
        return Reconciliation(
            HostState.ROLLBACK_FAILED,
            "probe could not read the installed versions: operator attention",
            found,
        )
    if rolling_back:  # a rollback was under way: finish it (rollback is idempotent)
        if backup_id is None:
            return Reconciliation(
                HostState.ROLLBACK_FAILED, "was rolling back but no backup is recorded", found, healthy
            )
        return Reconciliation(
            HostState.ROLLING_BACK, "was rolling back: run the rollback again", found, healthy
        )
    if found is Found.TARGET:
        if probe.ok:
            return Reconciliation(HostState.SUCCEEDED, "probe: target installed and healthy", found, True)
        if backup_id is None:
            return Reconciliation(
                HostState.ROLLBACK_FAILED,
                "target installed but unhealthy, and no backup recorded",
                found,
                False,
            )
        return Reconciliation(HostState.ROLLING_BACK, "probe: target installed but unhealthy", found, False)
    if found is Found.BASELINE:
        if install_done or before is HostState.VERIFYING:
            return Reconciliation(
                HostState.FAILED,
                "found at baseline after its install had completed: not installed again, operator attention",
                found,
            )
        return Reconciliation(
            HostState.PENDING, "probe: still at baseline; starts again from diagnostics", found, healthy
        )
    # mixed: part of the change took effect
    if backup_id is None:
        return Reconciliation(
            HostState.ROLLBACK_FAILED, "partly changed and no backup recorded: operator attention", found
        )
    return Reconciliation(HostState.ROLLING_BACK, "probe: partly changed; rolling back", found, healthy)
