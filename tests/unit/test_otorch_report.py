"""roles/ot_common/action_plugins/otorch_report.py: the phase result every role reports (contracts.md 5).

Its pure part (build_result/report), the plugin run through ansible's ActionBase with a real Task, PlayContext
and local connection, and one playbook on two local hosts through ansible-runner, whose playbook_on_stats
artifact_data is parsed by otorchestrator.execution.events as the orchestrator does.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "roles" / "ot_common" / "action_plugins" / "otorch_report.py"


def _plugin() -> ModuleType:
    name = "otorch_test_otorch_report"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PLUGIN)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


P = _plugin()


def check(name: str, ok: bool, value: Any = None, threshold: Any = None, detail: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "value": value, "threshold": threshold, "detail": detail}


DISK_OK = check("disk_free:/", True, 900, 100, "MiB free")
REPO_BAD = check("repo_signature", False, "BADSIG", None, "signed by another key")


def test_a_passing_phase_gives_todays_result_exactly() -> None:
    args = {
        "phase": "diagnostics",
        "checks": [DISK_OK],
        "values": {"installed": {"nwc-hmi-runtime": "1.0.0"}},
        "versions_before": {"nwc-hmi-runtime": "1.0.0"},
    }
    assert P.build_result("nw-hmi-02", args) == {
        "schema": 1,
        "phase": "diagnostics",
        "host": "nw-hmi-02",
        "ok": True,
        "checks": [DISK_OK],
        "values": {"installed": {"nwc-hmi-runtime": "1.0.0"}},
        "backup_id": None,
        "versions_before": {"nwc-hmi-runtime": "1.0.0"},
        "versions_after": {},
    }


def test_one_failed_check_fails_the_phase_and_is_named() -> None:
    out = P.report("h1", {"phase": "verify", "checks": [DISK_OK, REPO_BAD], "versions_after": {"p": None}})
    result = out["otorch_result"]
    assert result["ok"] is False
    assert result["checks"] == [DISK_OK, REPO_BAD]
    assert result["versions_after"] == {"p": None}
    assert out["failed_checks"] == ["repo_signature"]
    assert out["changed"] is False
    assert "failed" not in out  # the role's fail task fails the host: ansible_stats count on OK results only


def test_the_stats_are_keyed_by_host_and_reach_artifact_data() -> None:
    out = P.report("h1", {"phase": "scan", "checks": []})
    assert out["otorch_result"]["ok"] is True  # nothing checked, nothing failed
    assert out["ansible_stats"] == {
        "data": {"otorch_results": {"h1": out["otorch_result"]}},
        "per_host": False,
        "aggregate": True,
    }


def test_the_results_key_is_the_one_python_reads() -> None:
    from otorchestrator.execution.events import RESULTS_KEY

    assert P.RESULTS_KEY == RESULTS_KEY


@pytest.mark.parametrize(
    ("ok", "on_failure", "expected"),
    [(True, False, "bk-1"), (False, False, None), (False, True, "bk-1"), (True, True, "bk-1")],
)
def test_backup_id_is_dropped_on_failure_when_asked(ok: bool, on_failure: bool, expected: str | None) -> None:
    args = {"phase": "backup", "checks": [check("sha256", ok)], "backup_id": "bk-1"}
    if not on_failure:
        args["backup_id_on_failure"] = False
    assert P.build_result("h1", args)["backup_id"] == expected


SCAN: dict[str, Any] = {"phase": "scan", "checks": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"checks": []}, "phase must be one of diagnostics, backup, install, verify, rollback, scan, got"),
        ({"phase": "patch", "checks": []}, "phase must be one of"),
        ({"phase": "scan"}, "checks is required"),
        ({**SCAN, "checks": {"name": "x"}}, "checks must be a list of checks, got mapping"),
        ({**SCAN, "checks": ["disk"]}, "checks[0] must be a mapping {name, ok, ...}, got string"),
        ({**SCAN, "checks": [DISK_OK, {"ok": True}]}, "checks[1].name must be a non-empty string"),
        ({**SCAN, "checks": [{"name": "x", "ok": "yes"}]}, "checks[0].ok (x) must be a boolean, got 'yes'"),
        ({**SCAN, "checks": [{"name": "x", "ok": True, "detail": None}]}, "checks[0].detail (x) must be a"),
        ({**SCAN, "values": []}, "values must be a mapping, got list"),
        ({**SCAN, "backup_id": 7}, "backup_id must be a string or null, got integer"),
        ({**SCAN, "backup_id_on_failure": "no"}, "backup_id_on_failure must be a boolean"),
        ({**SCAN, "versions_before": {"p": 1}}, "versions_before must map package names"),
        ({**SCAN, "versions_after": "1.0"}, "versions_after must be a mapping, got string"),
        ({**SCAN, "version_after": {}}, "unknown argument(s) version_after; known:"),
    ],
)
def test_bad_arguments_name_the_field(args: dict[str, Any], message: str) -> None:
    with pytest.raises(P.ReportArgsError) as exc:
        P.build_result("h1", args)
    assert message in str(exc.value)


def _action(args: dict[str, Any], check_mode: bool = False) -> Any:
    """The plugin as ansible-core's TaskExecutor builds it: a real Task, PlayContext and local connection."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.playbook.task import Task
    from ansible.plugins.loader import connection_loader
    from ansible.template import Templar

    task = Task()
    task.action = "otorch_report"
    task.args = args
    task.check_mode = check_mode
    play_context = PlayContext()
    play_context.check_mode = check_mode
    connection = connection_loader.get("local", play_context, sys.stdin)
    loader = DataLoader()
    return P.ActionModule(task, connection, play_context, loader, Templar(loader=loader), None)


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_action_reports_for_the_inventory_host(check_mode: bool) -> None:
    action = _action({"phase": "verify", "checks": [DISK_OK, REPO_BAD]}, check_mode=check_mode)
    out = action.run(task_vars={"inventory_hostname": "nw-hmi-02"})
    assert out["otorch_result"]["host"] == "nw-hmi-02" and out["otorch_result"]["ok"] is False
    assert out["ansible_stats"]["data"] == {"otorch_results": {"nw-hmi-02": out["otorch_result"]}}
    assert out["failed_checks"] == ["repo_signature"]


def test_the_action_fails_the_task_with_the_bad_field() -> None:
    from ansible.errors import AnsibleActionFail

    action = _action({"phase": "verify", "checks": [{"name": "port:80", "ok": None}]})
    with pytest.raises(AnsibleActionFail, match=r"otorch_report: checks\[0\]\.ok \(port:80\) must be a bool"):
        action.run(task_vars={"inventory_hostname": "h1"})


PLAYBOOK = """
- name: Report through ot_common's action plugin
  hosts: all
  gather_facts: false
  roles:
    - role: ot_common
  tasks:
    - name: Report the verification
      otorch_report:
        phase: verify
        checks: "{{ [{'name': 'port:80', 'ok': inventory_hostname == 'good', 'value': 80, 'threshold': none,
                      'detail': 'listening'}] }}"
        versions_after: {nwc-hmi-runtime: "1.0.1"}
      register: _report

    - name: Fail the host when a check fails
      ansible.builtin.fail:
        msg: "verification failed: {{ _report['failed_checks'] | join(', ') }}"
      when: not _report['otorch_result']['ok']
"""


@pytest.mark.slow
def test_a_playbook_run_reports_every_host_to_artifact_data(tmp_path: Path) -> None:
    """ot_common as a role puts its action_plugins/ on the path; both hosts' results reach artifact_data."""
    import ansible_runner

    from otorchestrator.execution.backend import RunStatus
    from otorchestrator.execution.events import FailureTracker, phase_results
    from otorchestrator.models.results import HostOutcome, Phase

    (tmp_path / "report.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts").write_text(
        f"good ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        f"bad ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    (tmp_path / "pdd").mkdir()
    tracker = FailureTracker()
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path / "pdd"),
        playbook=str(tmp_path / "report.yml"),
        inventory=str(tmp_path / "hosts"),
        envvars={  # the venv's ansible-playbook, as the backend runs it (execution/ansible.py), env.sh or not
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        },
        event_handler=lambda event: tracker.feed(event) or True,
        suppress_env_files=True,
        quiet=True,
    )
    assert runner.status == "failed", runner.stdout.read()
    results = phase_results(Phase.VERIFY, ("good", "bad"), tracker, RunStatus.FAILED)
    good, bad = results["good"], results["bad"]
    assert good.ok and good.outcome == HostOutcome.OK and good.versions_after == {"nwc-hmi-runtime": "1.0.1"}
    assert not bad.ok and bad.outcome == HostOutcome.FAILED
    assert [c.name for c in bad.failed_checks] == ["port:80"]
    assert bad.failed_task == "Fail the host when a check fails"
    assert bad.message == "verification failed: port:80"
    assert tracker.stats is not None
    assert set(tracker.stats["artifact_data"]) == {"otorch_results"}  # no per_host data, nothing else
