"""The failure budget of a wave, counted by the orchestrator from host outcomes. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from otorchestrator.models.run import HostState
from otorchestrator.models.waves import Wave

# outcomes that spend the budget: the host was (or may have been) changed, or could not be reached
FAILURE_STATES: frozenset[HostState] = frozenset(
    {
        HostState.FAILED,
        HostState.ROLLED_BACK,
        HostState.ROLLBACK_FAILED,
        HostState.UNREACHABLE,
        HostState.TIMED_OUT,
        HostState.NEEDS_RECONCILE,  # lost after its install began: may have been changed
    }
)


@dataclass(frozen=True)
class Budget:
    """`allowed` failed hosts are tolerated; one more spends the budget (the rollout halts)."""

    allowed: int
    counts_blocked: bool = False

    @classmethod
    def of(cls, wave: Wave) -> Budget:
        return cls(allowed=wave.failure_budget, counts_blocked=wave.budget_counts_blocked)

    def counts(self, state: HostState) -> bool:
        if state is HostState.BLOCKED:
            return self.counts_blocked
        return state in FAILURE_STATES

    def failures(self, states: Iterable[HostState]) -> int:
        return sum(1 for s in states if self.counts(s))

    def spent(self, states: Iterable[HostState]) -> bool:
        return self.failures(states) > self.allowed

    def describe(self, states: Iterable[HostState]) -> str:
        blocked = " (blocked hosts count)" if self.counts_blocked else ""
        return f"{self.failures(states)} failed host(s), budget {self.allowed}{blocked}"
