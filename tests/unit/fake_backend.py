"""A scripted, in-memory backend and a small wave plan for the orchestrator's state-machine tests.

Fake hosts hold installed versions and a health flag; phases change them the way the real roles would,
so resume decisions can be checked against what "really" happened (installs counted per host).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from otorchestrator.execution.backend import (
    BackupStore,
    HostsInventory,
    Notify,
    PhaseOutcome,
    PhaseRequest,
    RunStatus,
    TaskEvent,
)
from otorchestrator.models.asset import Asset, Criticality, InstalledProduct, RecurringWindow, Role
from otorchestrator.models.catalog import Patch, Qualification
from otorchestrator.models.plan import Approval, Decision
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.waves import Rule, Wave, WaveHost, WaveItem, WavePlan
from otorchestrator.store.clock import FakeClock

BASE = "1.0.0"
TARGET = "1.1.0"
T0 = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)


class SimulatedCrash(BaseException):
    """Stands for kill -9: not an Exception, so nothing in the orchestrator catches it."""


@dataclass
class FakeHost:
    versions: dict[str, str]
    healthy: bool = True
    installs: int = 0
    rollbacks: int = 0
    backup: dict[str, str] | None = None


# script actions: "ok" (default), "fail", "unreachable", "timeout", "noresult"; install also "break"
# (installs but the service is unhealthy) and "partial" (fails after changing the package); install and
# rollback also "lost" (the change takes effect, then the host is lost: unreachable)
Script = Mapping[tuple[str, Phase], str]


@dataclass
class FakeBackend:
    hosts: dict[str, FakeHost]
    clock: FakeClock
    script: dict[tuple[str, Phase], str] = field(default_factory=dict)
    seconds_per_phase: float = 60.0
    crash_on_call: int | None = None  # crash (after the effects) during this phase call, 1-based
    calls: list[PhaseRequest] = field(default_factory=list)
    events: list[TaskEvent] = field(default_factory=list)
    backups: BackupStore = field(default_factory=lambda: BackupStore(location="/fake/backups"))
    orphans_ended: list[str] = field(default_factory=list)  # run ids end_orphans was called for
    # > 0: each host of a job takes this long on its own, one after the other ("started", tick, "ok"
    # events): hosts of one job then have phase times of their own
    seconds_per_host: float = 0.0

    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome:
        self.calls.append(request)
        self.clock.tick(self.seconds_per_phase)
        results = {h: self._one(request, h, on_event) for h in request.hosts}
        if self.crash_on_call is not None and len(self.calls) == self.crash_on_call:
            raise SimulatedCrash(f"crash during call {len(self.calls)} ({request.phase})")
        failed = any(not r.ok for r in results.values())
        return PhaseOutcome(
            phase=request.phase,
            status=RunStatus.FAILED if failed else RunStatus.SUCCESSFUL,
            rc=2 if failed else 0,
            results=results,
        )

    def end_orphans(self, run_id: str, grace_s: float = 30.0, notify: Notify | None = None) -> list[str]:
        self.orphans_ended.append(run_id)
        return []

    def installs(self, host: str) -> int:
        return self.hosts[host].installs

    def _one(
        self, request: PhaseRequest, name: str, on_event: Callable[[TaskEvent], None] | None
    ) -> PhaseResult:
        phase = request.phase
        host = self.hosts[name]
        action = self.script.get((name, phase), "ok")
        if on_event is not None:
            task = f"fake {phase.value}"
            if self.seconds_per_host > 0:
                on_event(TaskEvent(host=name, phase=phase, task=task, status="started"))
                self.clock.tick(self.seconds_per_host)
            event = TaskEvent(host=name, phase=phase, task=task, status="ok")
            self.events.append(event)
            on_event(event)
        targets = {
            p["package"]: p["target_version"] for p in request.extravars["otorch_patches"].get(name, [])
        }
        if action == "unreachable":
            return _result(phase, name, False, HostOutcome.UNREACHABLE)
        if action == "timeout":
            return _result(phase, name, False, HostOutcome.TIMED_OUT)
        if action == "noresult":
            return _result(phase, name, False, HostOutcome.NO_RESULT)
        before = dict(host.versions)
        live = not request.check_mode
        if phase is Phase.DIAGNOSTICS:
            return _result(phase, name, action == "ok", versions_before=before)
        if phase is Phase.BACKUP:
            if action == "ok" and live:
                host.backup = dict(host.versions)
            return _result(
                phase,
                name,
                action == "ok",
                backup_id=f"bk-{name}" if action == "ok" else None,
                versions_before=before,
            )
        if phase is Phase.INSTALL:
            if live and action in ("ok", "break", "partial", "lost"):
                host.versions.update(targets)
                host.installs += 1
                host.healthy = action in ("ok", "lost")
            if action == "lost":
                return _result(phase, name, False, HostOutcome.UNREACHABLE)
            return _result(
                phase,
                name,
                action in ("ok", "break"),
                versions_before=before,
                versions_after=dict(host.versions),
            )
        if phase is Phase.VERIFY:
            at_target = all(host.versions.get(p) == v for p, v in targets.items())
            ok = action == "ok" and host.healthy and (at_target or request.check_mode)
            return _result(phase, name, ok, versions_after=dict(host.versions))
        if phase is Phase.ROLLBACK:
            if action in ("ok", "lost") and live:
                assert host.backup is not None, f"{name}: rollback without a backup"
                assert request.extravars["otorch_backup_ids"][name] == f"bk-{name}"
                assert request.extravars["otorch_backup_id"] == f"bk-{name}"
                host.versions = dict(host.backup)
                host.healthy = True
                host.rollbacks += 1
            if action == "lost":
                return _result(phase, name, False, HostOutcome.UNREACHABLE)
            return _result(phase, name, action == "ok", versions_after=dict(host.versions))
        raise AssertionError(phase)


def _result(
    phase: Phase, host: str, ok: bool, outcome: HostOutcome | None = None, **extra: Any
) -> PhaseResult:
    outcome = outcome or (HostOutcome.OK if ok else HostOutcome.FAILED)
    data: dict[str, Any] = {"phase": phase, "host": host, "ok": ok, "outcome": outcome, **extra}
    if not ok and outcome is HostOutcome.FAILED:
        data["checks"] = [{"name": f"{phase.value}_check", "ok": False}]
    return PhaseResult.model_validate(data)


# -- a small wave plan ----------------------------------------------------------------------------

WINDOW = RecurringWindow(
    days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    start=datetime(2026, 1, 1).time(),
    duration_minutes=1440,
)


def package_of(host: str) -> str:
    return f"pkg-{host}"


def make_plan(
    waves: Sequence[Sequence[str]],
    *,
    budget: int = 0,
    counts_blocked: bool = False,
    waits_for: Mapping[str, Sequence[str]] | None = None,
    windows: Mapping[str, tuple[RecurringWindow, ...]] | None = None,
    critical: Sequence[str] = (),
    approved: Sequence[str] = (),
    duration: int = 10,
) -> WavePlan:
    """One patch per host (package pkg-<host>, 1.0.0 -> 1.1.0); every wave with the same budget."""
    all_hosts = [h for wave in waves for h in wave]
    patches = tuple(
        Patch(
            id=f"P-{h}",
            vendor="Northwind Controls",
            product=f"Product {h}",
            package=package_of(h),
            fixed_version=TARGET,
            target_version=TARGET,
            sha256=f"{i:064x}",
            qualification=Qualification.QUALIFIED,
            expected_duration_minutes=duration,
        )
        for i, h in enumerate(all_hosts)
    )
    assets = tuple(
        Asset(
            name=h,
            site="s",
            zone="z",
            purdue_level=3,
            role=Role.SERVER,
            criticality=Criticality.CRITICAL if h in critical else Criticality.LOW,
            maintenance_windows=(windows or {}).get(h, (WINDOW,)),
            installed_products=(
                InstalledProduct(
                    vendor="Northwind Controls", product=f"Product {h}", version=BASE, package=package_of(h)
                ),
            ),
        )
        for h in all_hosts
    )
    end = T0 + timedelta(hours=23)
    wave_models = []
    for index, names in enumerate(waves):
        hosts = tuple(
            WaveHost(
                name=h,
                zone="z",
                purdue_level=3,
                role=Role.SERVER,
                criticality=Criticality.CRITICAL if h in critical else Criticality.LOW,
                items=(WaveItem(patch_id=f"P-{h}", priority_rank=1, decision=Decision.SCHEDULED),),
                duration_minutes=duration,
                rollback_minutes=duration,
                window_start=T0 - timedelta(hours=1),
                window_end=end,
                latest_start=end - timedelta(minutes=2 * duration),
                waits_for=tuple((waits_for or {}).get(h, ())),
                approval=Approval(kind="asset", subject=h, approved_by="boss", reason="ok", at=T0)
                if h in approved
                else None,
                placement_rule=Rule.RISK_ORDER,
                placement_reason="test",
            )
            for h in names
        )
        wave_models.append(
            Wave(
                index=index,
                name=f"wave-{index}",
                kind="wave",
                slot_start=T0,
                slot_end=end,
                failure_budget=budget,
                budget_counts_blocked=counts_blocked,
                hosts=hosts,
            )
        )
    return WavePlan(
        created_at=T0,
        plan_hash="sha256:" + "1" * 64,
        policy_hash="sha256:" + "2" * 64,
        policy=WavePolicy(),
        assets=assets,
        patches=patches,
        waves=tuple(wave_models),
    ).sealed()


def fake_hosts(plan: WavePlan) -> dict[str, FakeHost]:
    return {a.name: FakeHost(versions={package_of(a.name): BASE}) for a in plan.assets}


def fake_inventory(names: Sequence[str]) -> HostsInventory:
    """A phase inventory of `names` without reading a file (`RunOptions.hosts_inventory` of the fakes)."""
    return HostsInventory(hosts={n: {"ansible_host": "127.0.0.1"} for n in names}, source="fake")


def write_inventory(plan: WavePlan, directory: Path, skip: Sequence[str] = ()) -> Path:
    """An Ansible inventory (hosts.yml) holding the plan's assets with their OT variables, as the run's
    authority re-reads them (every host's facts then agree with the wave plan)."""
    hosts: dict[str, Any] = {}
    for a in plan.assets:
        if a.name in skip:
            continue
        hosts[a.name] = {
            "ansible_host": "127.0.0.1",
            "ot_site": a.site,
            "ot_zone": a.zone,
            "ot_purdue_level": a.purdue_level,
            "ot_role": a.role.value,
            "ot_criticality": a.criticality.value,
            "ot_safety_system": a.safety_system,
            **({"ot_redundancy_group": a.redundancy_group} if a.redundancy_group else {}),
            "ot_maintenance_windows": [w.model_dump(mode="json") for w in a.maintenance_windows],
            "ot_installed_products": [
                p.model_dump(mode="json", exclude_none=True) for p in a.installed_products
            ],
            **({"ot_os": a.os.model_dump(mode="json")} if a.os.version else {}),
        }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False), encoding="utf-8")
    return path
