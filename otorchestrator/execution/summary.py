"""Where a run stands: per-host states, counts, and the CLI's exit code. Pure over store records."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from otorchestrator.exitcodes import ExitCode  # re-exported: the run's code is one of the CLI's
from otorchestrator.models.run import HostState, HostStateRecord, RunRecord, RunStatus

ATTENTION_STATES = frozenset({HostState.ROLLBACK_FAILED, HostState.NEEDS_RECONCILE})


@dataclass(frozen=True)
class RunSummary:
    run: RunRecord
    hosts: tuple[HostStateRecord, ...]

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(h.state.value for h in self.hosts).items()))

    def by_state(self, state: HostState) -> list[str]:
        return [h.host for h in self.hosts if h.state is state]

    @property
    def all_terminal(self) -> bool:
        return all(h.state.terminal for h in self.hosts)

    @property
    def exit_code(self) -> ExitCode:
        if any(h.state in ATTENTION_STATES for h in self.hosts):
            return ExitCode.ATTENTION
        if self.run.status is RunStatus.ABORTED:
            return ExitCode.ABORTED
        if self.run.status in (RunStatus.HALTED, RunStatus.RUNNING):
            return ExitCode.HALTED
        if self.run.status is RunStatus.FAILED:
            return ExitCode.ERROR
        if any(h.state is not HostState.SUCCEEDED for h in self.hosts):
            return ExitCode.HOSTS_FAILED
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run.model_dump(mode="json"),
            "counts": self.counts,
            "exit_code": int(self.exit_code),
            "hosts": [
                {
                    "host": h.host,
                    "wave": h.wave,
                    "state": h.state.value,
                    "phase": h.phase.value if h.phase else None,
                    "detail": h.detail,
                    "backup_id": h.backup_id,
                    "versions_before": h.versions_before,
                    "versions_after": h.versions_after,
                    "install_attempts": h.install_attempts,
                    "updated_at": h.updated_at.isoformat(),
                }
                for h in self.hosts
            ],
        }
