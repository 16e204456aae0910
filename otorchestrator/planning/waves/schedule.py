"""The wave scheduler: greedy list scheduling in phases (canary, then one phase per risk tier), under hard
constraints that are never relaxed:

- at most `max_hosts_per_wave` hosts per wave and `max_hosts_per_zone_per_wave` per zone;
- at most one member of a redundancy group per wave (members land in distinct, ordered waves);
- a host's dependencies are in earlier waves;
- a host's slot (its wave's start) lies in one maintenance-window occurrence that still holds the host's
  duration plus rollback, no earlier than its approval's time and no later than the horizon.

Urgent hosts (an `immediate` or `out_of_cycle` item, and the dependencies of such a host) belong to no
phase: each joins the first wave after its own combinations' canaries are verified, its dependencies and
redundancy-group predecessor too, and its
window holds it; they go first in every wave's fill, so neither unrelated canaries nor lower tiers delay
them. A canary covering an urgent host's combination goes first among the canaries. An urgent host that
goes alone (no canary covers its combination) and finds the wave taken opens the next one, which starts
when this one ends: after it is set aside, a host that goes after the urgent ones joins this wave only if it
does not make it end later.

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
from typing import TYPE_CHECKING

from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule
from otorchestrator.planning.waves.triage import Candidate

if TYPE_CHECKING:
    from otorchestrator.planning.waves.explain import Chained
from otorchestrator.planning.waves.windows import Fit

WAITING, READY, SLEEPING, PLACED, DROPPED = range(5)
URGENT = -1  # the phase of urgent hosts: every phase
LATER = 2  # first key of a host that goes after the urgent ones and their canaries


@dataclass(slots=True)
class Slotted:
    """A candidate host while it is being scheduled."""

    name: str
    cand: Candidate
    key: tuple[float, ...]  # heap order: urgent (and their canaries) first, then ascending risk
    phase: int
    pending: int  # dependencies and gates not yet placed
    tier_phase: int = 0  # the phase of its risk tier (before a dependency carried it further)
    dependents: list[str] = field(default_factory=list)
    gates: tuple[str, ...] = ()  # the canaries (or gap's first host) of its combinations it waits for
    gated: list[str] = field(default_factory=list)  # urgent hosts waiting for this one as their canary
    state: int = WAITING
    available_since: int = 0  # index of the first wave this host could have joined
    aside: tuple[Rule, str] | None = None  # set aside from a wave it fitted (solo rule)
    wave: int = -1
    fit: Fit | None = None
    rule: Rule = Rule.RISK_ORDER
    reason: str = ""
    waits_for: tuple[str, ...] = ()
    previous: str | None = None  # the member of its redundancy group placed before it
    constraints: tuple[Chained, ...] = ()
    solo: bool = False  # first host of a combination without a canary: goes alone in its wave
    canary: bool = False
    urgent: bool = False
    not_before: datetime | None = None  # its approval's time, when after the rollout's start


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


Explain = Callable[["_Scheduler", Slotted, WaveDraft], None]  # sets rule, reason, constraints
NoFit = Callable[
    ["_Scheduler", Slotted, datetime], str
]  # why no window from a moment to the horizon holds it


@dataclass
class _Scheduler:
    policy: WavePolicy
    start: datetime
    limit: datetime
    hosts: dict[str, Slotted]
    explain: Explain
    no_fit: NoFit
    waves: list[WaveDraft] = field(default_factory=list)
    dropped: dict[str, tuple[Rule, str]] = field(default_factory=dict)
    zone_heaps: dict[str, list[tuple[tuple[float, ...], str]]] = field(default_factory=dict)
    sleeping: list[tuple[datetime, tuple[float, ...], str]] = field(default_factory=list)
    group_last: dict[str, tuple[str, int]] = field(default_factory=dict)  # group -> (host, wave index)
    fits: dict[tuple[int, datetime, timedelta], Fit | None] = field(default_factory=dict)
    active: dict[int, int] = field(default_factory=dict)  # phase -> hosts ready or sleeping
    phase_release: dict[int, datetime] = field(default_factory=dict)  # phase -> when earlier phases ended
    canary_count: int = 0
    wave_count: int = 0
    solo_next: list[str] = field(default_factory=list)  # solo hosts set aside: they open the next wave

    def fit(self, host: Slotted, moment: datetime) -> Fit | None:
        cand = host.cand
        if host.not_before is not None and host.not_before > moment:
            moment = host.not_before
        key = (id(cand.timeline), moment, cand.need)
        if key not in self.fits:
            self.fits[key] = cand.timeline.next_fit(moment, cand.need, self.limit)
        return self.fits[key]

    def first_fit(self, host: Slotted) -> Fit | None:
        """The first slot its windows alone give it (no approval time, no other host)."""
        cand = host.cand
        key = (id(cand.timeline), self.start, cand.need)
        if key not in self.fits:
            self.fits[key] = cand.timeline.next_fit(self.start, cand.need, self.limit)
        return self.fits[key]

    def make_ready(self, host: Slotted) -> None:
        if host.state == WAITING:
            self.active[host.phase] = self.active.get(host.phase, 0) + 1
        host.state = READY
        host.available_since = len(self.waves)
        heapq.heappush(self.zone_heaps.setdefault(host.cand.asset.zone, []), (host.key, host.name))

    def settle(self, host: Slotted, state: int) -> None:
        """A host leaves the ready / sleeping pool (placed or dropped)."""
        if host.state in (READY, SLEEPING):
            self.active[host.phase] -= 1
        host.state = state

    def release(self, host: Slotted, phase: int) -> None:
        """One of `host`'s dependencies or gates was placed (or a gate dropped)."""
        host.pending -= 1
        if host.pending == 0 and host.state == WAITING and (host.phase == URGENT or host.phase <= phase):
            self.make_ready(host)

    def drop(self, host: Slotted, rule: Rule, reason: str, phase: int) -> None:
        stack = [(host, rule, reason)]
        while stack:
            current, rule, reason = stack.pop()
            if current.state in (PLACED, DROPPED):
                continue
            self.settle(current, DROPPED)
            self.dropped[current.name] = (rule, reason)
            for name in current.dependents:
                why = f"depends on {current.name}, which could not be placed: {reason}"
                stack.append((self.hosts[name], Rule.DEPENDENCY, why))
            for name in current.gated:  # its combination has no canary now: the gap is reported
                self.release(self.hosts[name], phase)

    def run(self, phases: int) -> Schedule:
        moment = self.start
        for phase in range(phases):
            self.phase_release[phase] = self.waves[-1].end if self.waves else self.start
            for host in self.hosts.values():
                joins = host.phase == phase or (phase == 0 and host.phase == URGENT)
                if joins and host.state == WAITING and host.pending == 0:
                    self.make_ready(host)
            moment = self.run_phase(phase, moment, last=phase + 1 == phases)
            if phase + 1 < phases:
                for host in self.hosts.values():
                    if host.phase == phase and host.state == WAITING:
                        host.phase = phase + 1  # its dependencies are in a later tier: it follows them
        left = [h for h in self.hosts.values() if h.state in (WAITING, READY, SLEEPING)]
        while left:  # only possible if a dependency was dropped after the last phase
            for host in left:
                self.drop(host, Rule.DEPENDENCY, "its dependencies were not placed", phases)
            left = [h for h in self.hosts.values() if h.state in (WAITING, READY, SLEEPING)]
        return Schedule(self.waves, self.dropped)

    def run_phase(self, phase: int, moment: datetime, last: bool) -> datetime:
        """Place waves until this phase's hosts are placed (the last phase: every host)."""
        gap = timedelta(minutes=self.policy.gap_minutes)
        while True:
            while self.sleeping and self.sleeping[0][0] <= moment:
                _, _, name = heapq.heappop(self.sleeping)
                if self.hosts[name].state == SLEEPING:
                    self.make_ready(self.hosts[name])
            for zone in [z for z, heap in self.zone_heaps.items() if not heap]:
                del self.zone_heaps[zone]
            if not last and not self.active.get(phase, 0):
                return moment  # urgent hosts still waiting carry on in the next phase
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

    def alone(self, moment: datetime) -> list[Slotted]:
        """A solo host set aside from the previous wave, in a wave of its own, when it fits now."""
        while self.solo_next:
            host = self.hosts[self.solo_next.pop(0)]
            fit = self.fit(host, moment) if host.state == READY else None
            if fit is not None and fit.slot <= moment:
                host.fit = fit
                return [host]
        return []

    def fill(self, phase: int, moment: datetime) -> WaveDraft | None:
        policy = self.policy
        index = len(self.waves)
        placed = self.alone(moment)
        zones: dict[str, int] = {h.cand.asset.zone: 1 for h in placed}
        top = [] if placed else [(heap[0][0], zone) for zone, heap in self.zone_heaps.items() if heap]
        heapq.heapify(top)
        groups: dict[str, str] = {}
        aside: list[Slotted] = []
        alone_next = ""  # an urgent host set aside to open the next wave: the rest may not end this one later
        longest = max((h.cand.need for h in placed), default=timedelta(0))
        while top and len(placed) < policy.max_hosts_per_wave:
            _, zone = heapq.heappop(top)
            heap = self.zone_heaps[zone]
            _, host_name = heapq.heappop(heap)
            host = self.hosts[host_name]
            again = bool(heap)
            if host.state == READY:
                if host.available_since < index and host.aside is None:
                    host.aside = self.cap_reason(host, index - 1)
                group = host.cand.asset.redundancy_group
                fit = self.fit(host, moment)
                if fit is None:
                    self.drop(host, Rule.WINDOW, self.no_fit(self, host, moment), phase)
                elif fit.slot > moment:
                    host.state = SLEEPING
                    heapq.heappush(self.sleeping, (fit.slot, host.key, host.name))
                elif host.solo and placed:
                    host.aside = (Rule.CANARY, "it goes alone in its wave (no canary covers its combination)")
                    aside.append(host)
                    self.solo_next.append(host.name)
                    if host.urgent and not alone_next:
                        alone_next = host.name
                elif placed and host.canary != placed[0].canary:  # canary waves hold canaries only
                    kind = "canaries only" if placed[0].canary else "no canary"
                    host.aside = (Rule.CANARY, f"the wave open then held {kind}")
                    aside.append(host)
                elif group is not None and group in groups:
                    aside.append(host)  # waits for that member: explained by the redundancy constraint
                elif alone_next and host.key[0] == LATER and host.cand.need > longest:
                    host.aside = (Rule.RISK_ORDER, self.held_for(alone_next, host))
                    aside.append(host)
                else:
                    host.fit = fit
                    placed.append(host)
                    longest = max(longest, host.cand.need)
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
        if any(h.canary for h in placed):
            self.canary_count += 1
            name = "canary" if self.canary_count == 1 else f"canary-{self.canary_count}"
            return WaveDraft(index, name, "canary", moment, end, placed, zones)
        self.wave_count += 1
        return WaveDraft(index, f"wave-{self.wave_count}", "wave", moment, end, placed, zones)

    def held_for(self, urgent: str, host: Slotted) -> str:
        need = int(host.cand.need.total_seconds() // 60)
        return (
            f"urgent {urgent} goes alone in the next wave: its {need} min (duration + rollback) would have "
            "made the wave open then end later"
        )

    def cap_reason(self, host: Slotted, index: int) -> tuple[Rule, str]:
        """Why a host ready for wave `index` was not in it: that wave's zone or wave cap."""
        previous = self.waves[index]
        zone = host.cand.asset.zone
        cap = self.policy.max_hosts_per_zone_per_wave
        if previous.zones.get(zone, 0) >= cap:
            return Rule.ZONE_CAP, f"zone {zone} had its maximum of {cap} hosts in {previous.name}"
        return (
            Rule.WAVE_CAP,
            f"{previous.name} was full ({len(previous.hosts)} hosts, urgent and less risky first)",
        )

    def close(self, wave: WaveDraft, phase: int) -> None:
        self.waves.append(wave)
        for host in wave.hosts:
            self.settle(host, PLACED)
            host.wave = wave.index
        for host in wave.hosts:
            group = host.cand.asset.redundancy_group
            before = [self.group_last[group][0]] if group and group in self.group_last else []
            if host.gates or host.cand.deps or before:
                gates = [g for g in host.gates if self.hosts[g].state == PLACED]  # not a dropped canary
                host.previous = before[0] if before else None
                host.waits_for = tuple(dict.fromkeys((*gates, *host.cand.deps, *before)))
            self.explain(self, host, wave)
        for host in wave.hosts:
            group = host.cand.asset.redundancy_group
            if group:
                self.group_last[group] = (host.name, wave.index)
            if host.dependents or host.gated:
                for name in (*host.dependents, *host.gated):
                    self.release(self.hosts[name], phase)


def urgent_closure(candidates: dict[str, Candidate]) -> set[str]:
    """Urgent hosts and, transitively, the dependencies they wait for."""
    found: set[str] = set()
    stack = [n for n, c in candidates.items() if c.urgent]
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(candidates[name].deps)
    return found


def schedule(
    candidates: dict[str, Candidate],
    canaries: dict[str, tuple[str, ...]],
    solo: dict[str, str],
    pilot: dict[str, str],
    combos: dict[str, tuple[str, ...]],
    urgent: set[str],
    risk: Callable[[Candidate], tuple[float, ...]],
    tier: Callable[[Candidate], tuple[float, ...]],
    explain: Explain,
    no_fit: NoFit,
    policy: WavePolicy,
    start: datetime,
    limit: datetime,
) -> Schedule:
    """`pilot`: combination -> its canary, which urgent hosts of that combination wait for; `urgent`:
    urgent hosts and their dependencies (`urgent_closure`)."""
    tiers = sorted({tier(c) for n, c in candidates.items() if n not in canaries})
    offset = 1 if canaries else 0
    phase_of = {t: i + offset for i, t in enumerate(tiers)}
    urgent_combos = {c for n in urgent for c in combos.get(n, ())}
    hosts: dict[str, Slotted] = {}
    for name, cand in candidates.items():
        tier_phase = 0 if name in canaries else phase_of[tier(cand)]
        is_urgent = name in urgent and name not in canaries
        mine = combos.get(name, ())
        # an urgent host waits for its combinations' canaries (a canary gap has none: its first host goes
        # alone, but nothing waits for it, so a late window of that host cannot push others out)
        waited = [pilot[c] for c in mine if c in pilot] if is_urgent else []
        gates = tuple(g for g in dict.fromkeys(waited) if g != name) if waited else ()
        # fill order: canaries of urgent combinations, urgent hosts, then the rest; each in ascending risk
        first = 0 if name in canaries and any(c in urgent_combos for c in mine) else 1 if is_urgent else LATER
        approved = cand.approval.at if cand.approval is not None and cand.approval.at > start else None
        hosts[name] = Slotted(
            name,
            cand,
            (first, *risk(cand)),
            URGENT if is_urgent else tier_phase,
            len(cand.deps) + len(gates),
            tier_phase=tier_phase,
            gates=gates,
            solo=name in solo,
            canary=name in canaries,
            urgent=name in urgent,
            not_before=approved,
        )
    for name, cand in candidates.items():
        for dep in cand.deps:
            hosts[dep].dependents.append(name)
        for gate in hosts[name].gates:
            hosts[gate].gated.append(name)
    phases = max(len(tiers) + offset, 1)
    scheduler = _Scheduler(policy, start, limit, hosts, explain, no_fit)
    return scheduler.run(phases)
