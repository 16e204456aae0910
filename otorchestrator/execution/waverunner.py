"""The per-host state machine, driven wave by wave; within a wave hosts flow (execution/hostchain.py):
each host's next phase starts as soon as its own previous phase passed. Every host's transition into a
phase is written (audit intent, then store) before that host's job starts (jobs: execution/phasejob.py):

    pending -> diagnosing -> backing_up -> installing -> verifying -> succeeded
    diagnostics failed -> blocked (never installed); backup failed -> failed (nothing changed)
    install or verify failed after a verified backup -> rolling_back -> rolled_back | rollback_failed
    unreachable / timed out in any phase -> recorded as such

The failure budget is counted here from host outcomes and checked before each host's start, backup and
install: once spent, hosts not yet installed stop (skipped), installed hosts finish verify (and roll back
on failure), and later waves do not start. Resume (`reconcile`) probes hosts caught mid-step together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from otorchestrator.execution.backend import Backend
from otorchestrator.execution.budget import FAILURE_STATES, Budget
from otorchestrator.execution.hostchain import HostFlow
from otorchestrator.execution.options import ABORTED, HALTED, RunOptions
from otorchestrator.execution.phasejob import JobSpec, PhaseJobs
from otorchestrator.execution.reconcile import decide, lost_state, state_before_crash
from otorchestrator.execution.recorder import Recorder
from otorchestrator.execution.safety import (
    check_approval,
    check_artifacts,
    check_catalog,
    check_window,
)
from otorchestrator.execution.soak import soak, soak_plan
from otorchestrator.execution.vars import host_patches, targets
from otorchestrator.execution.verdicts import good, why
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import Wave, WaveHost, WavePlan

_S = HostState
_LOST = {HostOutcome.UNREACHABLE: _S.UNREACHABLE, HostOutcome.TIMED_OUT: _S.TIMED_OUT}


def _lost(result: PhaseResult) -> tuple[HostState, str]:
    state, note = lost_state(result)  # needs_reconcile when lost after a change began (reconcile.py)
    return state, why(result) + (f"; {note}" if note else "")


class WaveRunner:
    def __init__(self, backend: Backend, rec: Recorder, waveplan: WavePlan, options: RunOptions) -> None:
        self.backend = backend
        self.rec = rec
        self.plan = waveplan
        self.options = options
        self.waves = sorted(waveplan.waves, key=lambda w: w.index)
        self.hostmap: dict[str, WaveHost] = {h.name: h for w in self.waves for h in w.hosts}
        self.wave_by_index = {w.index: w for w in self.waves}
        self.assets = waveplan.asset_map()
        self.patches = waveplan.patch_map()
        self.jobs = PhaseJobs(backend, rec, options, self.hostmap, self.patches)
        self.halt: str | None = None
        self.aborted = False
        # failures already there when this invocation started do not spend this invocation's budget
        self.counted_before = {n for n, r in rec.hosts.items() if r.state in FAILURE_STATES | {_S.BLOCKED}}

    # -- waves ---------------------------------------------------------------------------------------

    def execute(self) -> None:
        """Run every wave that has pending hosts, in order, until done or halted."""
        ran_one = False
        resoak = self.rec.store.unfinished_soaks(self.rec.run_id)
        for wave in self.waves:
            names = [h.name for h in wave.hosts if h.name in self.rec.hosts]
            if not any(self.rec.state(n) is _S.PENDING for n in names):
                if wave.index in resoak and self.halt is None:
                    self.soak(wave)  # the run was killed during this wave's soak: soak again first
                continue
            if self.halt is None and self._abort_requested():
                self.aborted, self.halt = True, "aborted by operator"
            if self.halt is None and ran_one and self.options.confirm and not self.options.confirm(wave):
                self.halt = f"operator declined to start wave {wave.name}"
            if self.halt is None:
                self.halt = self.recheck()
            if self.halt is not None:
                self.rec.wave_not_started(wave, self.halt, self.aborted)
                self._skip_pending(names, self._stop_prefix() + self.halt)
                continue
            ran_one = True
            row = self.rec.wave_started(wave)
            self.rec.observer.wave_started(wave, self.rec.now())
            self.run_wave(wave)
            self.soak(wave)
            self.rec.wave_finished(wave, row, self.halt, self.aborted)
            self.rec.observer.wave_finished(wave, self.rec.now(), self.halt)

    def recheck(self) -> str | None:
        """Run-level safety re-check before a wave: catalog entries and artifact hashes unchanged."""
        problems = []
        if self.options.catalog is not None:
            problems += check_catalog(self.plan, self.options.catalog())
        if self.options.artifact_digests is not None:
            problems += check_artifacts(self.plan, self.options.artifact_digests())
        if not problems:
            return None
        self.rec.event(
            "safety_check", result="refused", detail={"problems": [p.describe() for p in problems]}
        )
        return "safety re-check failed: " + "; ".join(p.describe() for p in problems)

    def run_wave(self, wave: Wave) -> None:
        budget = Budget.of(wave)
        members = [h for h in wave.hosts if h.name in self.rec.hosts]
        HostFlow(self, wave, budget, self.options.forks).run()
        if self.halt is None and self._spent(wave, budget):
            states = [
                self.rec.state(h.name) or _S.PENDING for h in members if h.name not in self.counted_before
            ]
            self.halt = f"failure budget of wave {wave.name} spent ({budget.describe(states)})"
            self.rec.event("budget_spent", wave=wave.index, result="halted", detail={"reason": self.halt})

    def soak(self, wave: Wave) -> None:
        """Bake time after the wave (policy `soak`): verify again on an interval; a failure halts."""
        if self.halt is not None or self.options.check_mode:
            return
        patched = [h.name for h in wave.hosts if self.rec.state(h.name) is _S.SUCCEEDED]
        plan = soak_plan(self.plan.policy.soak, wave.hosts, patched)
        reason = soak(
            self, wave, plan, sleep=self.options.sleep or time.sleep, abort_requested=self._abort_requested
        )
        if reason is not None:
            self.aborted = self.aborted or reason.startswith("aborted")
            self.halt = reason

    # -- rollback and success -------------------------------------------------------------------------

    def rollback(self, wave: Wave, names: Sequence[str]) -> None:
        """Roll back hosts already moved to rolling_back (the transition is written)."""
        by_backup: dict[str | None, list[str]] = {}
        for n in names:  # the rollback playbook takes one backup id per run: one call per backup
            by_backup.setdefault(self.rec.hosts[n].backup_id, []).append(n)
        results: dict[str, PhaseResult] = {}
        for backup_id, group in by_backup.items():
            results.update(
                self.run_phase(
                    wave,
                    Phase.ROLLBACK,
                    group,
                    entering=None,
                    backup_ids={n: backup_id for n in group},
                    extra={"otorch_backup_id": backup_id} if backup_id else None,
                )
            )
        for n in names:
            self.settle_rollback(wave, n, results[n])

    def settle_rollback(self, wave: Wave, name: str, result: PhaseResult) -> None:
        if good(result):
            if not self.options.check_mode:
                self.rec.reverse_patches(name, wave.index, reason="rolled back to the backup")
            self.rec.move(
                name, _S.ROLLED_BACK, "rolled back to the backup", versions_after=result.versions_after
            )
        elif result.outcome in _LOST:
            self.rec.move(name, *_lost(result))
        else:
            if not self.options.check_mode:
                self._reverse_undone(wave, name, result)
            self.rec.move(name, _S.ROLLBACK_FAILED, "rollback failed: operator attention; " + why(result))

    def _reverse_undone(self, wave: Wave, name: str, result: PhaseResult) -> None:
        """A failed rollback may still have reverted some packages: the installs whose package is
        reported at another version than the one installed are no longer in effect."""
        after = result.versions_after
        undone = [
            p.patch_id
            for p in self.rec.store.patch_history(name)
            if p.run_id == self.rec.run_id
            and p.package
            and p.package in after
            and after[p.package] != p.to_version
        ]
        if undone:
            self.rec.reverse_patches(name, wave.index, undone, reason="rollback failed, package reverted")

    def succeed(self, wave: Wave, name: str, result: PhaseResult) -> None:
        """Record the host's patches (audit, then store; each once per run, the store says which are
        recorded already, even across crashes), then succeeded."""
        record = self.rec.hosts[name]
        versions_after = dict(result.versions_after)
        if not self.options.check_mode:
            for patch in host_patches(self.hostmap[name], self.patches):
                package = patch.package
                self.rec.patch_installed(
                    name,
                    wave.index,
                    patch,
                    record.versions_before.get(package) if package else None,
                    (versions_after.get(package) if package else None) or patch.target_version,
                )
        self.rec.move(name, _S.SUCCEEDED, "verified", versions_after=versions_after or None)

    # -- phases ---------------------------------------------------------------------------------------

    def run_phase(
        self,
        wave: Wave,
        phase: Phase,
        names: Sequence[str],
        *,
        entering: HostState | None,
        move_args: Mapping[str, Mapping[str, Any]] | None = None,
        backup_ids: Mapping[str, str | None] | None = None,
        extra: Mapping[str, Any] | None = None,
        probe: bool = False,
    ) -> dict[str, PhaseResult]:
        """Write each host's transition into the phase, then run the phase once over all of them."""
        spec = JobSpec(phase, tuple(names), entering, move_args, backup_ids, extra, probe)
        return self.jobs.run(wave, spec)

    def _settle(self, name: str, result: PhaseResult, on_failure: HostState, what: str) -> bool:
        """True when the phase went well; otherwise move the host to its failure state."""
        if good(result):
            return True
        if result.outcome in _LOST:
            self.rec.move(name, *_lost(result))
        elif result.outcome is HostOutcome.CANCELED and self.rec.state(name) in (
            _S.DIAGNOSING,
            _S.BACKING_UP,
        ):
            self.rec.move(name, _S.SKIPPED, ABORTED + "canceled before anything changed")
        else:
            self.rec.move(name, on_failure, f"{what}: {why(result)}")
        return False

    # -- gates ------------------------------------------------------------------------------------------

    def _abort_requested(self) -> bool:
        return bool(self.options.abort_requested and self.options.abort_requested())

    def _stop_prefix(self) -> str:
        return ABORTED if self.aborted else HALTED

    def _spent(self, wave: Wave, budget: Budget) -> bool:
        states = [
            self.rec.state(h.name) or _S.PENDING
            for h in wave.hosts
            if h.name in self.rec.hosts and h.name not in self.counted_before
        ]
        return budget.spent(states)

    def _stop(self, wave: Wave, budget: Budget) -> str | None:
        if self._abort_requested():
            self.aborted = True
            self.halt = self.halt or "aborted by operator"
            return "aborted by operator"
        if self._spent(wave, budget):
            return f"failure budget of wave {wave.name} spent"
        return None

    def _rechecked(self, names: list[str]) -> list[str]:
        """Just before install: each host's artifacts re-hashed against the catalog (execution/authority.py);
        a mismatch refuses that host only."""
        authority = self.options.authority
        if authority is None or not names:
            return names
        refused: set[str] = set()
        for check in authority.recheck_artifacts(self.plan, [self.hostmap[n] for n in names]):
            result = "verified" if check.ok else "refused"
            self.rec.event("artifact_recheck", host=check.host, result=result, detail=check.detail())
            if not check.ok:
                refused.add(check.host)
                self.rec.move(check.host, _S.SKIPPED, f"artifact re-check: {check.reason}; not installed")
        return [n for n in names if n not in refused]

    def _admit(self, host: WaveHost) -> bool:
        authority = self.options.authority
        if authority is not None:
            admission = authority.admit(self.plan, host, self.rec.operator, self.rec.now())
            refused = admission.problem
            result = "admitted" if refused is None else "refused"
            self.rec.event("authority", host=host.name, result=result, detail=admission.detail)
            if refused is not None:  # only this host: the others of its wave go on
                self.rec.move(host.name, _S.SKIPPED, f"{refused.check}: {refused.detail}")
                return False
        problem = (check_approval(self.plan, host) if authority is None else None) or check_window(
            host, self.assets.get(host.name), self.rec.now()
        )
        if problem is None:
            return True
        self.rec.move(host.name, _S.SKIPPED, f"{problem.check}: {problem.detail}")
        return False

    def _dependencies(self, host: WaveHost) -> str:
        """ "ready", "wait", or the reason the host cannot start."""
        for dep in host.waits_for:
            state = self.rec.state(dep)
            if state is _S.SUCCEEDED:
                continue
            if state is None:
                if self._patched_before(dep):
                    continue
                return f"waits for {dep}, which is not patched (not in this run)"
            if state is _S.PENDING or state.active or state is _S.NEEDS_RECONCILE:
                return "wait"
            return f"waits for {dep}, which ended {state.value}"
        return "ready"

    def _patched_before(self, name: str) -> bool:
        host = self.hostmap.get(name)
        if host is None:
            return False
        done = {p.patch_id for p in self.rec.store.patch_history(name)}
        return set(host.patch_ids) <= done

    def _skip_pending(self, names: Iterable[str], reason: str) -> None:
        for n in names:
            if self.rec.state(n) is _S.PENDING:
                self.rec.move(n, _S.SKIPPED, reason)

    # -- resume --------------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Re-probe every host caught mid-step (or lost) before acting; decide from what is found."""
        suspects: list[str] = []
        for name, record in list(self.rec.hosts.items()):
            state = record.state
            if state is _S.UNREACHABLE and record.install_attempts == 0 and record.rollback_attempts == 0:
                self.rec.move(name, _S.PENDING, "unreachable before any change: retried on resume")
            elif state.active or state in (_S.UNREACHABLE, _S.TIMED_OUT):
                self.rec.move(name, _S.NEEDS_RECONCILE, f"found {state.value} on resume: re-probing")
                suspects.append(name)
            elif state is _S.NEEDS_RECONCILE:
                suspects.append(name)
        if not suspects:
            return
        if self.options.wait_for_orphans is not None:
            self.options.wait_for_orphans(self.backend, self.rec.run_id)
        rollback: dict[int, list[str]] = {}
        for wave in self.waves:
            names = [n for n in suspects if self.rec.hosts[n].wave == wave.index]
            results = self.run_phase(wave, Phase.VERIFY, names, entering=None, probe=True)
            for n in names:
                record = self.rec.hosts[n]
                host = self.hostmap[n]
                asset = self.assets.get(n)
                baseline = {
                    p.package: p.version for p in (asset.installed_products if asset else ()) if p.package
                }
                baseline.update(record.versions_before)
                install_done = any(
                    pr.result.phase is Phase.INSTALL and good(pr.result)
                    for pr in self.rec.store.phase_results(self.rec.run_id, host=n)
                )
                decision = decide(
                    state_before_crash(self.rec.store.transitions(self.rec.run_id, n)),
                    results[n],
                    targets(host, self.patches),
                    baseline,
                    record.backup_id,
                    install_done,
                )
                if decision.state is _S.SUCCEEDED:
                    self.succeed(wave, n, results[n])
                    continue
                self.rec.move(n, decision.state, decision.reason)
                if decision.state is _S.ROLLING_BACK:
                    rollback.setdefault(wave.index, []).append(n)
        for index, names in rollback.items():
            self.rollback(self.wave_by_index[index], names)

    def release_skipped(self) -> None:
        """Hosts skipped by a halt, a window or a missing approval get another chance on resume."""
        for name, record in list(self.rec.hosts.items()):
            if record.state is _S.SKIPPED and not record.detail.startswith(ABORTED):
                self.rec.move(name, _S.PENDING, "released on resume")
