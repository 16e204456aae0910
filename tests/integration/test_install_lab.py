"""The apt-mode install phase (ot_patch's one module ot_patch_install) through the real AnsibleRunnerBackend
against the lab: a dry run changes nothing, a second run runs no apt-get, a version the repository lacks
refuses the whole transaction. Hosts that are changed are reset to the lab baseline afterwards (lab.reset)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from _roles_helpers import LabRunner, dpkg_status, patch_entry

from otorchestrator.execution.backend import RunStatus
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.results import HostOutcome, Phase

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def runner(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRunner]:
    yield LabRunner(lab, tmp_path_factory.mktemp("otorch-state"))


def apt_runs(lab: LabHandle, host: str) -> str:
    """apt's history of the host (one block per apt-get that changed or tried to change packages) and its
    package lists' timestamps (a refresh rewrites them)."""
    history = lab.sh(host, "cat /var/log/apt/history.log", check=False).stdout
    return history + lab.sh(host, "ls -l --time-style=+%s.%N /var/lib/apt/lists/", check=False).stdout


def test_check_mode_changes_nothing_and_a_second_install_runs_no_apt_get(runner: LabRunner) -> None:
    lab, host, pkg = runner.lab, "nw-hmi-01", "nwc-hmi-runtime"
    hosts = {host: [patch_entry(lab, pkg)]}
    try:
        lab.ensure_baseline(host)
        untouched = apt_runs(lab, host)
        dry = runner.run(Phase.INSTALL, hosts, check_mode=True).results[host]
        assert dry.ok and dry.outcome == HostOutcome.OK, (dry.failed_checks, dry.message)
        installed = next(c for c in dry.checks if c.name == f"installed:{pkg}")
        assert installed.detail == "check mode: not installed"
        assert dry.versions_before == dry.versions_after == {pkg: "1.0.0"}
        assert dpkg_status(lab, host, pkg) == "ii 1.0.0" and apt_runs(lab, host) == untouched

        first = runner.run(Phase.INSTALL, hosts).results[host]
        assert first.ok and first.versions_before == {pkg: "1.0.0"} and first.versions_after == {pkg: "1.1.0"}
        assert first.values["mode"] == "apt" and first.values["reboot_required"] is False
        assert dpkg_status(lab, host, pkg) == "ii 1.1.0"
        patched = apt_runs(lab, host)
        assert patched.count("Start-Date:") == untouched.count("Start-Date:") + 1  # one apt transaction

        again = runner.run(Phase.INSTALL, hosts).results[host]
        assert again.ok and again.versions_before == again.versions_after == {pkg: "1.1.0"}
        assert apt_runs(lab, host) == patched  # nothing to install: no refresh, no apt-get
    finally:
        lab.reset(host)


def test_a_version_the_repository_does_not_have_installs_nothing(runner: LabRunner) -> None:
    lab, host = runner.lab, "nw-hmi-02"
    missing = dict(patch_entry(lab, "nwc-drill-agent"), target_version="9.9.9", fixed_version="9.9.9")
    hosts = {host: [patch_entry(lab, "nwc-hmi-runtime"), missing]}
    try:
        out = runner.run(Phase.INSTALL, hosts)
        r = out.results[host]
        assert out.status == RunStatus.FAILED and not r.ok and r.outcome == HostOutcome.FAILED
        step = next(c for c in r.checks if c.name == "install_step")
        assert "E: Version '9.9.9' for 'nwc-drill-agent' was not found" in step.detail, step.detail
        assert {"install_step", "installed:nwc-hmi-runtime", "installed:nwc-drill-agent"} <= {
            c.name for c in r.failed_checks
        }
        assert "reboot_required" not in r.values  # a failed step decides no reboot
        assert (
            r.versions_before == r.versions_after == {"nwc-hmi-runtime": "1.0.0", "nwc-drill-agent": "1.0.0"}
        )
        assert dpkg_status(lab, host, "nwc-hmi-runtime") == "ii 1.0.0"  # one transaction: nothing installed
    finally:
        lab.reset(host)


def test_the_install_phase_is_one_host_module_run(runner: LabRunner) -> None:
    """apt mode, per host: the arg-spec validation, ot_patch_install, the push include, the reboot and the
    host's fail (skipped), otorch_report: 6 task results, 1 of them on the host, run without AnsiballZ."""
    lab, host = runner.lab, "nw-hist-01"
    try:
        out = runner.run(Phase.INSTALL, {host: [patch_entry(lab, "nwc-historian")]})
        assert out.results[host].ok, out.results[host].failed_checks
        assert out.artifact_dir is not None
        events = [json.loads(p.read_text()) for p in (out.artifact_dir / "job_events").glob("*.json")]
        finished = [
            e
            for e in events
            if e.get("event", "").startswith("runner_on_") and e["event"] != "runner_on_start"
        ]
        assert len(finished) == 6, sorted(e["event_data"].get("task") for e in finished)
        on_host = [e["event_data"]["task_action"] for e in finished if e["event"] == "runner_on_ok"]
        assert on_host.count("ot_patch_install") == 1 and not [
            a for a in on_host if "apt" in a or "state" in a
        ]
    finally:
        lab.reset(host)
