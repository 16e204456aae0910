"""The wave scheduler: greedy list scheduling in risk order, in phases (canary, then one phase per risk
tier), under hard constraints that are never relaxed:

- at most `max_hosts_per_wave` hosts per wave and `max_hosts_per_zone_per_wave` per zone;
- at most one member of a redundancy group per wave (members land in distinct, ordered waves);
- a host's dependencies are in earlier waves;
- a host's slot (its wave's start) lies in one maintenance-window occurrence that still holds the host's
  duration plus rollback, and no later than the horizon.

Waves run back to back: a slot ends when its longest host (duration + rollback) could end; the next starts
`gap_minutes` later, or when the next waiting host's window opens. A host that no longer fits any window
before the horizon is dropped with the rule that pushed it out, and so are the hosts depending on it.

Cost: O(n log n) heap operations plus one window lookup per host and delay; no pass over all hosts per wave.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule
from otorchestrator.planning.waves.triage import Candidate
from otorchestrator.planning.waves.windows import Fit

WAITING, READY, SLEEPING, PLACED, DROPPED = range(5)


@dataclass(slots=True)
class Slotted:
    """A candidate host while it is being scheduled."""

    name: str
    cand: Candidate
    key: tuple[float, ...]
    phase: int
    pending: int  # dependencies not yet placed
    dependents: list[str] = field(default_factory=list)
    state: int = WAITING
    available_since: int = 0  # index of the first wave this host could have joined
    delay: tuple[Rule, str] | None = None  # the last rule that kept it out of a wave
    carried: bool = False  # moved to a later phase to follow its dependencies
    wave: int = -1
    fit: Fit | None = None
    rule: Rule = Rule.RISK_ORDER
    reason: str = ""
    waits_for: tuple[str, ...] = ()
    solo: bool = False  # first host of a combination without a canary: goes alone in its wave


@dataclass(slots=True)
class WaveDraft:
    index: int
    name: str
    kind: str  # canary | wave
    start: datetime
    end: datetime
    hosts: list[Slotted]
    zones: dict[str, int]


@dataclass(slots=True)
class Schedule:
    waves: list[WaveDraft]
    dropped: dict[str, tuple[Rule, str]]  # host -> rule, reason (infeasible during scheduling)


@lru_cache(maxsize=4096)
def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class _Scheduler:
    policy: WavePolicy
    limit: datetime
    hosts: dict[str, Slotted]
    describe: Callable[[Slotted], str]  # the base placement reason (canary coverage or risk order)
    waves: list[WaveDraft] = field(default_factory=list)
    dropped: dict[str, tuple[Rule, str]] = field(default_factory=dict)
    zone_heaps: dict[str, list[tuple[tuple[float, ...], str]]] = field(default_factory=dict)
    sleeping: list[tuple[datetime, tuple[float, ...], str]] = field(default_factory=list)
    group_last: dict[str, tuple[str, int]] = field(default_factory=dict)  # group -> (host, wave index)
    fits: dict[tuple[int, datetime, timedelta], Fit | None] = field(default_factory=dict)
    canary_waves: int = 0  # 1 when there is a canary phase
    canaries_done: int = 0  # canary waves closed so far
    solo_next: list[str] = field(default_factory=list)  # solo hosts set aside: they open the next wave

    def fit(self, host: Slotted, moment: datetime) -> Fit | None:
        cand = host.cand
        key = (id(cand.timeline), moment, cand.need)
        if key not in self.fits:
            self.fits[key] = cand.timeline.next_fit(moment, cand.need, self.limit)
        return self.fits[key]

    def make_ready(self, host: Slotted) -> None:
        host.state = READY
        host.available_since = len(self.waves)
        heapq.heappush(self.zone_heaps.setdefault(host.cand.asset.zone, []), (host.key, host.name))

    def drop(self, host: Slotted, rule: Rule, reason: str) -> None:
        stack = [(host, rule, reason)]
        while stack:
            current, rule, reason = stack.pop()
            if current.state in (PLACED, DROPPED):
                continue
            current.state = DROPPED
            self.dropped[current.name] = (rule, reason)
            for name in current.dependents:
                why = f"depends on {current.name}, which could not be placed: {reason}"
                stack.append((self.hosts[name], Rule.DEPENDENCY, why))

    def run(self, start: datetime, phases: int) -> Schedule:
        moment = start
        for phase in range(phases):
            for host in self.hosts.values():
                if host.phase == phase and host.state == WAITING and host.pending == 0:
                    if not host.carried:
                        host.delay = None  # its tier, not an earlier dependency, decides its first wave
                    self.make_ready(host)
            moment = self.run_phase(phase, moment)
            if phase + 1 < phases:
                for host in self.hosts.values():
                    if host.phase == phase and host.state == WAITING:
                        host.phase = phase + 1  # its dependencies are in a later tier: it follows them
                        host.carried = True
                        firsts = [d for d in host.cand.deps if self.hosts[d].state != PLACED]
                        host.delay = (Rule.DEPENDENCY, f"waits for {', '.join(firsts)} (a later risk tier)")
        for host in self.hosts.values():  # only possible if a dependency was dropped after the last phase
            if host.state == WAITING:
                self.drop(host, Rule.DEPENDENCY, "its dependencies were not placed")
        return Schedule(self.waves, self.dropped)

    def run_phase(self, phase: int, moment: datetime) -> datetime:
        gap = timedelta(minutes=self.policy.gap_minutes)
        while True:
            while self.sleeping and self.sleeping[0][0] <= moment:
                _, _, name = heapq.heappop(self.sleeping)
                if self.hosts[name].state == SLEEPING:
                    self.make_ready(self.hosts[name])
            for zone in [z for z, heap in self.zone_heaps.items() if not heap]:
                del self.zone_heaps[zone]
            if not self.zone_heaps:
                if not self.sleeping:
                    return moment
                moment = self.sleeping[0][0]
                continue
            wave = self.fill(phase, moment)
            if wave is None:
                if self.sleeping:
                    moment = max(moment, self.sleeping[0][0])
                continue
            self.close(wave, phase)
            moment = wave.end + gap

    def alone(self, phase: int, moment: datetime) -> WaveDraft | None:
        """A solo host set aside from the previous wave, in a wave of its own, when it fits now."""
        while self.solo_next:
            host = self.hosts[self.solo_next.pop(0)]
            fit = self.fit(host, moment) if host.state == READY else None
            if fit is not None and fit.slot <= moment:
                host.fit = fit
                index = len(self.waves)
                kind = "canary" if phase == 0 and self.canary_waves else "wave"
                zone = host.cand.asset.zone
                name = self.wave_name(phase, index)
                return WaveDraft(index, name, kind, moment, moment + host.cand.need, [host], {zone: 1})
        return None

    def fill(self, phase: int, moment: datetime) -> WaveDraft | None:
        policy = self.policy
        solo = self.alone(phase, moment)
        if solo is not None:
            return solo
        top = [(heap[0][0], zone) for zone, heap in self.zone_heaps.items() if heap]
        heapq.heapify(top)
        placed: list[Slotted] = []
        zones: dict[str, int] = {}
        groups: dict[str, str] = {}
        aside: list[Slotted] = []
        index = len(self.waves)
        name = self.wave_name(phase, index)
        while top and len(placed) < policy.max_hosts_per_wave:
            _, zone = heapq.heappop(top)
            heap = self.zone_heaps[zone]
            _, host_name = heapq.heappop(heap)
            host = self.hosts[host_name]
            again = bool(heap)
            if host.state == READY:
                group = host.cand.asset.redundancy_group
                fit = self.fit(host, moment)
                if fit is None:
                    why = host.delay[1] if host.delay else "earlier waves"
                    self.drop(
                        host,
                        Rule.WINDOW,
                        f"no maintenance window from {_stamp(moment)} to the horizon "
                        f"{_stamp(self.limit)} holds its {host.cand.duration + host.cand.rollback} min "
                        f"(duration + rollback); delayed by: {why}",
                    )
                elif fit.slot > moment:
                    host.state = SLEEPING
                    host.delay = (Rule.WINDOW, f"its maintenance window holds it from {_stamp(fit.slot)}")
                    heapq.heappush(self.sleeping, (fit.slot, host.key, host.name))
                elif host.solo and placed:
                    host.delay = (Rule.WAVE_CAP, "it goes alone in its wave (a combination without a canary)")
                    aside.append(host)
                    self.solo_next.append(host.name)
                elif group is not None and group in groups:
                    host.delay = (
                        Rule.REDUNDANCY,
                        f"{groups[group]} of redundancy group {group} is in {name}",
                    )
                    aside.append(host)
                else:
                    host.fit = fit
                    placed.append(host)
                    zones[zone] = zones.get(zone, 0) + 1
                    if group is not None:
                        groups[group] = host.name
                    again = again and zones[zone] < policy.max_hosts_per_zone_per_wave
                    if host.solo:
                        break
            if again:
                heapq.heappush(top, (heap[0][0], zone))
        for host in aside:
            heapq.heappush(self.zone_heaps[host.cand.asset.zone], (host.key, host.name))
            host.available_since = index + 1
        if not placed:
            return None
        end = moment + max(h.cand.need for h in placed)
        return WaveDraft(
            index, name, "canary" if phase == 0 and self.canary_waves else "wave", moment, end, placed, zones
        )

    def wave_name(self, phase: int, index: int) -> str:
        if phase == 0 and self.canary_waves:
            return "canary" if index == 0 else f"canary-{index + 1}"
        return f"wave-{index - self.canaries_done + 1}"

    def close(self, wave: WaveDraft, phase: int) -> None:
        self.waves.append(wave)
        if wave.kind == "canary":
            self.canaries_done += 1
        for host in wave.hosts:
            host.state = PLACED
            host.wave = wave.index
            group = host.cand.asset.redundancy_group
            before = [self.group_last[group][0]] if group and group in self.group_last else []
            host.waits_for = (*host.cand.deps, *before)
            host.rule, why = self.binding_rule(host, wave)
            notes = [self.describe(host), why]
            if host.cand.deps:
                notes.append("after dependencies " + ", ".join(self.where(d) for d in host.cand.deps))
            if before:
                notes.append(f"after {self.where(before[0])} of redundancy group {group}")
            notes.extend(host.cand.not_waited)
            host.reason = "; ".join(n for n in notes if n)
        for host in wave.hosts:
            group = host.cand.asset.redundancy_group
            if group:
                self.group_last[group] = (host.name, wave.index)
            for dependent in host.dependents:
                other = self.hosts[dependent]
                other.pending -= 1
                if other.pending == 0 and other.state == WAITING:
                    other.delay = (Rule.DEPENDENCY, f"after its dependency {host.name} ({wave.name})")
                    if other.phase <= phase:
                        self.make_ready(other)

    def where(self, name: str) -> str:
        return f"{name} ({self.waves[self.hosts[name].wave].name})"

    def binding_rule(self, host: Slotted, wave: WaveDraft) -> tuple[Rule, str]:
        """Which rule put the host in this wave rather than an earlier one."""
        if host.available_since < wave.index:
            previous = self.waves[wave.index - 1]
            zone = host.cand.asset.zone
            cap = self.policy.max_hosts_per_zone_per_wave
            if previous.zones.get(zone, 0) >= cap:
                return Rule.ZONE_CAP, f"zone {zone} had its maximum of {cap} hosts in {previous.name}"
            return Rule.WAVE_CAP, f"{previous.name} was full ({len(previous.hosts)} hosts, lower risk first)"
        if host.delay is not None:
            return host.delay
        if wave.kind == "canary":
            return Rule.CANARY, ""
        return Rule.RISK_ORDER, ""


def schedule(
    candidates: dict[str, Candidate],
    canaries: dict[str, tuple[str, ...]],
    solo: dict[str, str],
    risk: Callable[[Candidate], tuple[float, ...]],
    tier: Callable[[Candidate], tuple[float, ...]],
    describe: Callable[[Slotted], str],
    policy: WavePolicy,
    start: datetime,
    limit: datetime,
) -> Schedule:
    tiers = sorted({tier(c) for n, c in candidates.items() if n not in canaries})
    offset = 1 if canaries else 0
    phase_of = {t: i + offset for i, t in enumerate(tiers)}
    hosts: dict[str, Slotted] = {}
    for name, cand in candidates.items():
        phase = 0 if name in canaries else phase_of[tier(cand)]
        hosts[name] = Slotted(name, cand, risk(cand), phase, len(cand.deps), solo=name in solo)
    for name, cand in candidates.items():
        for dep in cand.deps:
            hosts[dep].dependents.append(name)
    scheduler = _Scheduler(policy, limit, hosts, describe, canary_waves=1 if canaries else 0)
    return scheduler.run(start, len(tiers) + offset)
