"""A scan's backend request is built by the wave request builder (execution/requests.py), as a wave's is:
the same inventory reading, run id and phase variables, timeouts and transport from the `RunOptions`, never
in check mode; `run_scan` hands the backend's task events on as they arrive."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from fake_backend import T0, fake_inventory, make_plan
from test_drill_cli import FakeHosts

from otorchestrator.app import scans
from otorchestrator.app.session import Caller
from otorchestrator.execution.backend import HostsInventory, PhaseOutcome, PhaseRequest, TaskEvent
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.requests import SCAN_TIMEOUT_S, run_phase_request, scan_request
from otorchestrator.execution.scan import applicable_patches, run_scan
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.results import Phase
from otorchestrator.store.clock import FakeClock

LAB = Path(__file__).parents[2] / "inventories" / "lab"


class Recording(FakeHosts):
    def run_phase(self, request: PhaseRequest, on_event: Any = None, cancel: Any = None) -> PhaseOutcome:
        for host in request.hosts:
            if on_event is not None:
                on_event(TaskEvent(host=host, phase=request.phase, task="Scan the host", status="ok"))
        return super().run_phase(request, on_event, cancel)


def test_otorch_scan_asks_the_backend_what_the_builder_builds(tmp_path: Path) -> None:
    backend = Recording()
    caller = Caller(state_dir=tmp_path / "st", backend=lambda paths: backend, clock=FakeClock())
    scans.scan(LAB, "carol", caller, limit="nw-hmi-02", catalog=LAB / "catalog.yml", scan_id="SCAN-T1")
    (request,) = backend.requests
    (asset,) = [a for a in scans.inventory_assets(LAB) if a.name == "nw-hmi-02"]
    patches = applicable_patches(asset, load_catalog_strict(LAB / "catalog.yml").patches)
    assert patches  # its config files are hashed
    built = scan_request(
        RunOptions(operator="", inventory=LAB), {"nw-hmi-02": patches}, run_id="SCAN-T1", label="SCAN-T1"
    )
    assert request == built
    assert request.extravars["otorch_run_id"] == "SCAN-T1" and request.extravars["otorch_phase"] == "scan"
    assert [p["id"] for p in request.extravars["otorch_patches"]["nw-hmi-02"]] == [p.id for p in patches]
    assert isinstance(request.inventory, HostsInventory) and list(request.inventory.hosts) == ["nw-hmi-02"]
    assert (request.timeout_s, request.task_timeout_s, request.check_mode) == (SCAN_TIMEOUT_S, 600, False)


def test_a_scan_takes_the_options_a_wave_takes(tmp_path: Path) -> None:
    """Inventory as data, extra vars, phase and task timeouts, transport: what run_phase_request reads."""
    plan = make_plan([["a"]])
    options = RunOptions(
        operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory, extravars={"site": "x"},
        phase_timeout_s=120, task_timeout_s=30, transport="mitogen", check_mode=True,
    )  # fmt: skip
    scan = scan_request(options, {"a": ()}, run_id="SCAN-1", label="SCAN-1")
    wave = run_phase_request(options, Phase.DIAGNOSTICS, plan.waves[0].hosts, {}, run_id="r", label="r")
    same = ("inventory", "secret_vars", "timeout_s", "task_timeout_s", "transport")
    assert {k: getattr(scan, k) for k in same} == {k: getattr(wave, k) for k in same}
    assert scan.extravars["site"] == "x" and scan.check_mode is False and wave.check_mode is True
    assert scan_request(
        replace(options, phase_timeout_s=None), {"a": ()}, run_id="s", label="s"
    ).timeout_s == (SCAN_TIMEOUT_S)


def test_run_scan_hands_on_each_task_event() -> None:
    seen: list[TaskEvent] = []
    backend = Recording()
    outcome = run_scan(
        backend,
        RunOptions(operator="", inventory=LAB),
        ["nw-hmi-01", "nw-hmi-02"],
        FakeClock(T0),
        run_id="SCAN-2",
        on_event=seen.append,
    )
    assert [(e.host, e.task) for e in seen] == [
        ("nw-hmi-01", "Scan the host"),
        ("nw-hmi-02", "Scan the host"),
    ]
    assert sorted(outcome.results) == ["nw-hmi-01", "nw-hmi-02"]
