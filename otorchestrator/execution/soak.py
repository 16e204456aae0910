"""Bake time between waves (what Argo Rollouts calls analysis): after a wave verified, its patched hosts
soak for the policy's minutes (per role) while the verify checks run again every interval.

A host whose checks fail during its soak is rolled back (succeeded -> rolling_back -> rolled_back, with the
soak round in the reason), counts against the wave's failure budget, and halts the later waves: a patch that
breaks after verification is not carried into the next wave. The soak is audited and stored (`soak_started`,
one `soak_check` per round, `soak_finished`; the store's `soaks` table) and shown live; a run killed during a
soak soaks that wave again on resume before any later wave starts (the store says which soak did not
finish). Check mode changes nothing, so there is nothing to soak.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from otorchestrator.execution.recorder import Recorder
from otorchestrator.execution.verdicts import good, why
from otorchestrator.models.policy import SoakPolicy
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import Wave, WaveHost

SOAK_CHECK = "soak_check"


class SoakHost(Protocol):
    """What the soak needs of the wave runner (execution/waverunner.py)."""

    rec: Recorder

    def run_phase(
        self, wave: Wave, phase: Phase, names: Sequence[str], *, entering: HostState | None
    ) -> dict[str, PhaseResult]: ...

    def rollback(self, wave: Wave, names: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class SoakPlan:
    """Who soaks how long: host -> minutes (hosts with 0 minutes are left out)."""

    minutes: dict[str, float]
    interval_s: int

    @property
    def longest(self) -> float:
        return max(self.minutes.values(), default=0.0)


def soak_plan(policy: SoakPolicy, hosts: Sequence[WaveHost], patched: Sequence[str]) -> SoakPlan:
    """The soak of a wave: each patched host for its role's minutes (pure)."""
    roles = {h.name: h.role for h in hosts}
    minutes = {n: policy.minutes_for(roles.get(n, "")) for n in patched}
    return SoakPlan({n: m for n, m in minutes.items() if m > 0}, policy.interval_seconds)


def soak(
    runner: SoakHost,
    wave: Wave,
    plan: SoakPlan,
    *,
    sleep: Callable[[float], None] = time.sleep,
    abort_requested: Callable[[], bool] = lambda: False,
) -> str | None:
    """Soak the wave's hosts; returns why later waves must not start (None: the soak passed)."""
    rec = runner.rec
    if not plan.minutes:
        return None
    start = rec.now()
    row = rec.journal.soak_started(wave.index, plan.minutes, plan.interval_s, start)
    rec.observer.message(
        f"wave {wave.index} ({wave.name}): soaking {len(plan.minutes)} host(s) for up to "
        f"{plan.longest:g} min, verify every {plan.interval_s} s"
    )
    soaking = dict(plan.minutes)
    failed: dict[str, str] = {}
    rounds = 0
    while soaking:
        elapsed = _minutes(start, rec.now())
        due = [n for n, m in soaking.items() if elapsed < m]
        for n in set(soaking) - set(due):
            del soaking[n]  # this host's soak is over
        if not soaking:
            break
        if abort_requested():
            rec.journal.soak_finished(wave.index, row, "aborted", rounds, rec.now())
            return "aborted by operator during the soak"
        sleep(min(plan.interval_s, max(1.0, (min(soaking.values()) - elapsed) * 60)))
        rounds += 1
        names = sorted(n for n in soaking if rec.state(n) is HostState.SUCCEEDED)
        results = runner.run_phase(wave, Phase.VERIFY, names, entering=None)
        at = _minutes(start, rec.now())
        bad = {n: r for n, r in results.items() if not good(r)}
        rec.event(
            SOAK_CHECK,
            wave=wave.index,
            result="failed" if bad else "ok",
            detail={"round": rounds, "minute": round(at, 2), "hosts": names, "failed": sorted(bad)},
        )
        for n, result in bad.items():
            reason = why(result)
            failed[n] = reason
            soaking.pop(n, None)
            detail = f"soak check failed at +{at:.1f} min (round {rounds}): {reason}"
            rec.move(n, HostState.ROLLING_BACK, detail)
        if bad:
            runner.rollback(wave, sorted(bad))
    rec.journal.soak_finished(wave.index, row, "failed" if failed else "ok", rounds, rec.now(), failed)
    if failed:
        hosts = ", ".join(sorted(failed))
        return f"soak of wave {wave.name} failed on {hosts}: later waves not started"
    rec.observer.message(f"wave {wave.index} ({wave.name}): soak passed ({rounds} round(s))")
    return None


def _minutes(start: datetime, now: datetime) -> float:
    return (now - start).total_seconds() / 60
