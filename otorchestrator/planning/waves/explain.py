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
from otorchestrator.planning.waves.windows import local_text, local_zone

if TYPE_CHECKING:
    from otorchestrator.planning.waves.schedule import Slotted, WaveDraft, _Scheduler


Gate = tuple[datetime, int, Rule, str]  # release, order among equal releases, rule, host waited for


@dataclass(frozen=True)
class Explainer:
    describe: Callable[[Slotted], str]  # what the host is: canary covering ..., urgent ..., risk order ...
    tier_text: Callable[[Slotted], str]  # its risk tier, e.g. "criticality high"
    combos: dict[str, tuple[str, ...]]  # host -> its combinations
    pilot: dict[str, str]  # combination -> its canary, or a gap's first host
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
        for name in host.waits_for:
            other = s.hosts[name]
            if name in host.gates:
                rule = Rule.CANARY
            elif name in host.cand.deps:
                rule = Rule.DEPENDENCY
            else:
                rule = Rule.REDUNDANCY
            found.append((s.waves[other.wave].end, 2, rule, name))
        return found

    def text(self, s: _Scheduler, host: Slotted, gate: Gate, zone: tzinfo) -> Chained:
        when, _, rule, name = gate
        at = local_text(when, zone)
        if rule is Rule.APPROVAL:
            return _constraint(rule, f"its approval is dated {at}", when)  # who: in the description
        if not name:
            if rule is Rule.CANARY:
                return _constraint(rule, f"after the canary waves, verified {at}", when)
            tier = self.tier_text(host)
            return _constraint(rule, f"after the lower risk tiers (its tier: {tier}), verified {at}", when)
        other = s.hosts[name]
        wave = s.waves[other.wave].name
        if rule is Rule.CANARY:
            shared = ", ".join(c for c in self.combos[host.name] if self.pilot.get(c) == name)
            what = f"canary {name}" if other.canary else f"{name}, the first host (no canary covers it)"
            text = f"after {what} ({wave}) of {shared}, verified {at}"
        elif rule is Rule.DEPENDENCY:
            text = f"after its dependency {name} ({wave}), verified {at}"
        else:
            text = (
                f"after {name} ({wave}) of redundancy group {host.cand.asset.redundancy_group}, verified {at}"
            )
        return _constraint(rule, text, when, (name,))

    def __call__(self, s: _Scheduler, host: Slotted, wave: WaveDraft) -> None:
        cand = host.cand
        zone = local_zone(cand.asset.maintenance_windows)
        assert host.fit is not None
        first = s.first_fit(host)  # its windows alone
        earliest = first.slot if first is not None else s.start
        pushed = max((g for g in self.gates(s, host) if g[0] > earliest), default=None)
        chain: list[Chained] = []
        ready = s.start
        if pushed is not None:
            chain.append(self.text(s, host, pushed, zone))
            ready = pushed[0]
            after = s.fit(host, ready)
            if after is not None and after.slot > ready:
                text = f"its maintenance window opens {local_text(after.slot, zone)}"
                chain.append(_constraint(Rule.WINDOW, text, after.slot))
                ready = after.slot
        elif earliest > s.start:
            text = f"its maintenance window opens {local_text(earliest, zone)}"
            chain.append(_constraint(Rule.WINDOW, text, earliest))
            ready = earliest
        if wave.start > ready and host.aside is not None:
            rule, text = host.aside
            chain.append(_constraint(rule, text, wave.start))
            if host.fit.start > ready:  # the caps made it miss the window it was ready in
                text = f"its next maintenance window opens {local_text(host.fit.start, zone)}"
                chain.append(_constraint(Rule.WINDOW, text, host.fit.start))
        if chain:
            host.rule = chain[0].rule
        else:
            host.rule = Rule.CANARY if host.canary else Rule.RISK_ORDER
        host.constraints = tuple(chain)
        named = {n for c in chain for n in c.hosts}
        others = [n for n in host.waits_for if n not in named]
        notes = [self.describe(host), "; then ".join(c.text for c in chain)]
        if others:
            notes.append("also after " + ", ".join(f"{n} ({s.waves[s.hosts[n].wave].name})" for n in others))
        notes.extend(cand.not_waited)
        host.reason = "; ".join(n for n in notes if n)

    def no_fit(self, s: _Scheduler, host: Slotted, moment: datetime) -> str:
        cand = host.cand
        zone = local_zone(cand.asset.maintenance_windows)
        text = (
            f"no maintenance window from {local_text(moment, zone)} to the horizon "
            f"{local_text(s.limit, zone)} holds its {cand.duration + cand.rollback} min (duration + rollback)"
        )
        gate = max(self.gates(s, host), default=None)
        return f"{text}; it had to wait: {self.text(s, host, gate, zone).text}" if gate else text


def _constraint(rule: Rule, text: str, when: datetime, hosts: tuple[str, ...] = ()) -> Chained:
    return Chained(rule, text, when.astimezone(UTC), hosts)


class Chained(NamedTuple):
    """A constraint while staging (fields of models.waves.Constraint; the wave plan validates them)."""

    rule: Rule
    text: str
    releases_at: datetime
    hosts: tuple[str, ...]
