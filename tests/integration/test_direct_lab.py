"""Our host modules without AnsiballZ (roles/ot_common/action_plugins/_otorch_direct.py), on the lab.

The same phases run twice on the same hosts: with the project's pipelining ssh (the direct path) and with
ANSIBLE_PIPELINING=False (the module path, AnsiballZ). Both must give the same checks; the job events say
which path ran (`otorch_ran`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _roles_helpers import LabRunner, patch_entry

from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.execution.backend import PhaseOutcome, RunStatus
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.results import Phase

PROBES = {Phase.DIAGNOSTICS: "ot_diagnostics_probe", Phase.VERIFY: "ot_verify_probe"}


def ran(outcome: PhaseOutcome, action: str) -> list[str]:
    """`otorch_ran` of every result of `action` in the job's events."""
    seen = []
    for f in sorted((outcome.artifact_dir / "job_events").glob("*.json")):
        data = json.loads(f.read_text()).get("event_data", {})
        if data.get("task_action") == action and "res" in data:
            seen.append(str(data["res"].get("otorch_ran")))
    return seen


def checks(outcome: PhaseOutcome, host: str) -> list[tuple[str, bool]]:
    return [(c.name, c.ok) for c in outcome.results[host].checks]


@pytest.fixture
def runners(lab: LabHandle, tmp_path: Path) -> tuple[LabRunner, LabRunner]:
    lab.ensure_baseline("nw-hmi-02", "nw-gw-01")
    direct = LabRunner(lab, tmp_path / "direct")
    module = LabRunner(lab, tmp_path / "module")
    module.backend = AnsibleRunnerBackend(
        tmp_path / "module", extra_env={**lab.runner_envvars(), "ANSIBLE_PIPELINING": "False"}
    )
    return direct, module


@pytest.mark.parametrize("phase", [Phase.DIAGNOSTICS, Phase.VERIFY])
def test_direct_and_module_paths_give_the_same_checks(
    runners: tuple[LabRunner, LabRunner], phase: Phase
) -> None:
    direct, module = runners
    hosts: dict[str, list[dict[str, Any]]] = {
        "nw-hmi-02": [patch_entry(direct.lab, "nwc-hmi-runtime", "1.0.0")],
        "nw-gw-01": [patch_entry(direct.lab, "nwc-gateway", "1.0.0")],
    }
    fast, slow = direct.run(phase, hosts), module.run(phase, hosts)
    assert fast.status == slow.status == RunStatus.SUCCESSFUL
    assert ran(fast, PROBES[phase]) == ["direct", "direct"]
    assert ran(slow, PROBES[phase]) == ["module", "module"]
    for host in hosts:
        assert checks(fast, host) == checks(slow, host) and checks(fast, host), host
        assert fast.results[host].ok, fast.results[host].failed_checks
