"""Why a host is in its wave and not an earlier one: the chain of constraints that held it, binding first,
each with the time it released, in the asset's local time (UTC in the structured `constraints`).

The binding constraint is the first that pushed the host past the earliest slot its windows alone would
give it: a canary of its combination, a dependency, its redundancy-group predecessor, its approval's time,
the canary waves or lower risk tiers (hosts that are not urgent), then the window that opened after
that, then a cap that kept it out of a wave it fitted. A host with none of these is where it is because it
could not be earlier: its rule is `canary` or `risk_order`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, NamedTuple

from otorchestrator.models.waves import Rule
from otorchestrator.planning.waves.windows import local_text

if TYPE_CHECKING:
    from otorchestrator.planning.waves.schedule import Slotted, WaveDraft, _Scheduler


Gate = tuple[datetime, int, Rule, str]  # release, order among equal releases, rule, host waited for


@dataclass(frozen=True)
class Explainer:
    describe: Callable[[Slotted], str]  # what the host is: canary covering ..., urgent ..., risk order ...
    tier_text: Callable[[Slotted], str]  # its risk tier, e.g. "criticality high"
    combos: dict[str, tuple[str, ...]]  # host -> its combinations
    pilot: dict[str, str]  # combination -> its canary
    canary_phase: bool  # phase 0 is the canary phase

    def gates(self, s: _Scheduler, host: Slotted) -> list[Gate]:
        """Every constraint that had to release before the host could start: (release, order, rule,
        the host it waited for). Texts are written only for the ones shown."""
        found: list[Gate] = []
        if host.not_before is not None:
            found.append((host.not_before, 0, Rule.APPROVAL, ""))
        if not host.urgent and host.tier_phase > 0:
            when = s.phase_release[host.tier_phase]
            if when > s.start:
                rule = Rule.CANARY if host.tier_phase == 1 and self.canary_phase else Rule.RISK_TIER
                found.append((when, 1, rule, ""))
        for name in host.waits_for:  # one host may be its canary, its dependency and its predecessor
            end = s.waves[s.hosts[name].wave].end
            if name in host.gates:
                found.append((end, 2, Rule.CANARY, name))
            if name in host.cand.deps:
                found.append((end, 2, Rule.DEPENDENCY, name))
            if name == host.previous:
                found.append((end, 2, Rule.REDUNDANCY, name))
        return found

    def phrase(self, s: _Scheduler, host: Slotted, gates: list[Gate], zone: tzinfo) -> str:
        """One sentence for constraints that released together; a host waited for is named once."""
        at = local_text(gates[0][0], zone)
        parts: list[str] = []
        roles: dict[str, list[str]] = {}
        for _, _, rule, name in gates:
            if rule is Rule.APPROVAL:
                parts.append(f"its approval is dated {at}")  # who approved: in the description
            elif not name:
                if rule is Rule.CANARY:
                    parts.append(f"after the canary waves, verified {at}")
                else:
                    tier = self.tier_text(host)
                    parts.append(f"after the lower risk tiers (its tier: {tier}), verified {at}")
            else:
                roles.setdefault(name, []).append(self.role(s, host, rule, name))
        for name, what in roles.items():
            wave = s.waves[s.hosts[name].wave].name
            parts.append(f"after {name} ({wave}), {' and '.join(what)}, verified {at}")
        return " and ".join(parts)

    def role(self, s: _Scheduler, host: Slotted, rule: Rule, name: str) -> str:
        if rule is Rule.CANARY:
            shared = ", ".join(c for c in self.combos[host.name] if self.pilot.get(c) == name)
            return f"the canary of {shared}"
        if rule is Rule.DEPENDENCY:
            return "its dependency"
        return f"the previous member of redundancy group {host.cand.asset.redundancy_group}"

    def closed(self, s: _Scheduler, host: Slotted, wave: WaveDraft) -> tuple[Rule, str] | None:
        """Why `wave` had no room for the host, had nothing else held it then."""
        policy = s.policy
        if host.solo and wave.hosts:
            return (
                Rule.CANARY,
                f"it goes alone in its wave (no canary covers its combination), not in {wave.name}",
            )
        if wave.hosts and wave.hosts[0].canary != host.canary:
            return Rule.CANARY, f"{wave.name} held {'canaries only' if host.canary is False else 'no canary'}"
        if len(wave.hosts) == 1 and wave.hosts[0].solo:  # a solo host is always alone in its wave
            alone = wave.hosts[0].name
            return Rule.CANARY, f"{wave.name} held {alone} alone (no canary covers its combination)"
        if len(wave.hosts) >= policy.max_hosts_per_wave:
            return Rule.WAVE_CAP, f"{wave.name} was full ({len(wave.hosts)} hosts)"
        zone = host.cand.asset.zone
        if wave.zones.get(zone, 0) >= policy.max_hosts_per_zone_per_wave:
            cap = policy.max_hosts_per_zone_per_wave
            return Rule.ZONE_CAP, f"zone {zone} had its maximum of {cap} hosts in {wave.name}"
        return None

    def cobound(
        self, s: _Scheduler, host: Slotted, wave: WaveDraft, rest: list[Gate]
    ) -> tuple[Rule, str] | None:
        """What else kept the host out of the previous wave, had the binding constraint not held it: that
        rule binds too (both must go for the host to move)."""
        if wave.index == 0:
            return None
        previous = s.waves[wave.index - 1]
        if previous.start < s.start or any(g[0] > previous.start for g in rest):
            return None
        fit = s.fit(host, previous.start)
        if fit is None or fit.slot != previous.start:
            return None
        return self.closed(s, host, previous)

    def __call__(self, s: _Scheduler, host: Slotted, wave: WaveDraft) -> None:
        cand = host.cand
        zone = cand.timeline.zone
        assert host.fit is not None
        first = s.first_fit(host)  # its windows alone
        earliest = first.slot if first is not None else s.start
        gates = self.gates(s, host)
        late = [g for g in gates if g[0] > earliest]
        chain: list[Chained] = []
        texts: list[str] = []
        ready = s.start
        if late:
            if len(late) == 1:
                tied = late
                ready = late[0][0]
            else:
                ready = max([g[0] for g in late])
                tied = sorted([g for g in late if g[0] == ready])
            utc = _utc(ready)
            for g in tied:
                chain.append(Chained(g[2], utc, (g[3],) if g[3] else ()))
            texts.append(self.phrase(s, host, tied, zone))
            rest = [g for g in gates if g not in tied] if len(gates) > len(tied) else []
            also = self.cobound(s, host, wave, rest)
            if also is not None:
                chain.append(_constraint(also[0], ready))
                texts[-1] += f" (and {also[1]})"
            after = s.fit(host, ready)
            if after is not None and after.slot > ready:
                chain.append(_constraint(Rule.WINDOW, after.slot))
                texts.append(f"its maintenance window opens {local_text(after.slot, zone)}")
                ready = after.slot
        elif earliest > s.start:
            chain.append(_constraint(Rule.WINDOW, earliest))
            texts.append(f"its maintenance window opens {local_text(earliest, zone)}")
            ready = earliest
        if wave.start > ready and host.aside is not None:
            rule, text = host.aside
            chain.append(_constraint(rule, wave.start))
            texts.append(text)
            if host.fit.start > ready:  # the caps made it miss the window it was ready in
                chain.append(_constraint(Rule.WINDOW, host.fit.start))
                texts.append(f"its next maintenance window opens {local_text(host.fit.start, zone)}")
        if chain:
            host.rule = chain[0].rule
        else:
            host.rule = Rule.CANARY if host.canary else Rule.RISK_ORDER
        host.constraints = tuple(chain)
        notes = [self.describe(host), "; then ".join(texts)]
        if host.waits_for:
            named = {n for c in chain for n in c.hosts}
            others = [n for n in host.waits_for if n not in named]
            if others:
                waited = ", ".join([f"{n} ({s.waves[s.hosts[n].wave].name})" for n in others])
                notes.append("also after " + waited)
        notes.extend(cand.not_waited)
        host.reason = "; ".join([n for n in notes if n])

    def no_fit(self, s: _Scheduler, host: Slotted, moment: datetime) -> str:
        cand = host.cand
        zone = cand.timeline.zone
        text = (
            f"no maintenance window from {local_text(moment, zone)} to the horizon "
            f"{local_text(s.limit, zone)} holds its {cand.duration + cand.rollback} min (duration + rollback)"
        )
        gate = max(self.gates(s, host), default=None)
        return f"{text}; it had to wait: {self.phrase(s, host, [gate], zone)}" if gate else text


def _constraint(rule: Rule, when: datetime, hosts: tuple[str, ...] = ()) -> Chained:
    return Chained(rule, _utc(when), hosts)


def _utc(when: datetime) -> datetime:
    """`when` in UTC (itself when it is already: the staging times are)."""
    return when if when.tzinfo is UTC else when.astimezone(UTC)


class Chained(NamedTuple):
    """A constraint while staging (fields of models.waves.Constraint; the wave plan validates them)."""

    rule: Rule
    releases_at: datetime
    hosts: tuple[str, ...]
