"""The job environment handed to ansible-playbook (and written by ansible-runner to artifacts/command)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fake_backend import fake_inventory

from otorchestrator.execution.ansible import AnsibleRunnerBackend, TaskTimeouts
from otorchestrator.execution.backend import PhaseRequest
from otorchestrator.execution.jobenv import (
    RUN_OVERRIDES,
    ConfigChoice,
    choose_config,
    job_env,
    run_settings,
    site_config_file,
)
from otorchestrator.execution.secretfiles import (
    SecretChannelUnavailable,
    sweep_stale_secret_files,
    write_secret_file,
)
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult

INHERITED = {
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "ANSIBLE_CONFIG": "/etc/site/ansible.cfg",
    "ANSIBLE_BECOME_PASSWORD": "hunter2",
    "SITE_DB_PASSWORD": "s3cret",
    "AWS_SECRET_ACCESS_KEY": "abc",
    "GITHUB_TOKEN": "ghp_x",
    "RANDOM_TOOL_SETTING": "1",
    "PYTHONPATH": "/old",
}


def test_inherited_secrets_and_unrelated_variables_are_dropped() -> None:
    added = {"PYTHONPATH": "/runner/callbacks:/old", "ANSIBLE_STDOUT_CALLBACK": "awx_display"}
    runner_env = {**INHERITED, **added}
    ours = {"PATH": "/venv/bin:/usr/bin", "OTORCH_RUN_TOKEN": "t0k"}
    env = job_env({**runner_env, **ours}, ours, INHERITED)
    assert env == {
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_CONFIG": "/etc/site/ansible.cfg",
        "PYTHONPATH": "/runner/callbacks:/old",  # changed by ansible-runner: kept
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",  # added by ansible-runner: kept
        "PATH": "/venv/bin:/usr/bin",
        "OTORCH_RUN_TOKEN": "t0k",  # ours, even though its name says token
    }
    for secret in ("hunter2", "s3cret", "abc", "ghp_x"):
        assert secret not in env.values()


def test_a_password_file_path_is_not_a_secret() -> None:
    inherited = {"ANSIBLE_VAULT_PASSWORD_FILE": "/run/vault.pw", "ANSIBLE_BECOME_PASSWORD": "hunter2"}
    env = job_env(dict(inherited), {}, inherited)
    assert env == {"ANSIBLE_VAULT_PASSWORD_FILE": "/run/vault.pw"}


def test_site_services_variables_pass_through_but_a_proxy_password_does_not() -> None:
    inherited = {
        "ARA_API_CLIENT": "http",
        "ARA_API_SERVER": "https://ara.site:8000",
        "ARA_API_PASSWORD": "hunter2",  # a secret by its name: the site puts it in ansible.cfg [ara]
        "REQUESTS_CA_BUNDLE": "/etc/ssl/site-ca.pem",
        "SSL_CERT_FILE": "/etc/ssl/site-ca.pem",
        "HTTPS_PROXY": "http://proxy.site:3128",
        "http_proxy": "http://proxy.site:3128",
        "NO_PROXY": "localhost,127.0.0.1,.site",
        "HTTP_PROXY": "http://op:s3cret@proxy.site:3128",  # would land in artifacts/command
    }
    env = job_env(dict(inherited), {}, inherited)
    assert env == {k: v for k, v in inherited.items() if k not in ("ARA_API_PASSWORD", "HTTP_PROXY")}


def test_the_site_ansible_cfg_is_chosen_when_ansible_finds_one(tmp_path: Path) -> None:
    project = tmp_path / "project"
    site = tmp_path / "site" / "ansible.cfg"
    site.parent.mkdir()
    site.write_text("[defaults]\nroles_path = roles:~/more-roles\ncollections_paths = /opt/colls\n")
    chosen = choose_config(project, str(site))
    assert chosen == ConfigChoice(site, site=True)
    settings = run_settings(chosen, project, {"HOME": "/home/op"})
    assert settings["ANSIBLE_CONFIG"] == str(site)
    # the project's first, then the site's (relative to the cfg's directory, ~ expanded)
    assert settings["ANSIBLE_ROLES_PATH"].split(":") == [
        str(project / "roles"), str(site.parent / "roles"), os.path.expanduser("~/more-roles"),
    ]  # fmt: skip
    assert settings["ANSIBLE_COLLECTIONS_PATH"].split(":") == [str(project / ".collections"), "/opt/colls"]
    # the environment beats the ansible.cfg, as in Ansible
    env_wins = run_settings(chosen, project, {"ANSIBLE_ROLES_PATH": "/srv/roles"})
    assert env_wins["ANSIBLE_ROLES_PATH"] == f"{project / 'roles'}:/srv/roles"


def test_without_a_site_config_the_project_one_and_ansible_default_paths(tmp_path: Path) -> None:
    chosen = choose_config(tmp_path, None)
    assert chosen == ConfigChoice(tmp_path / "ansible.cfg", site=False)
    settings = run_settings(chosen, tmp_path, {})
    assert settings["ANSIBLE_COLLECTIONS_PATH"].split(":") == [
        str(tmp_path / ".collections"),
        os.path.expanduser("~/.ansible/collections"),
        "/usr/share/ansible/collections",
    ]


def test_site_config_file_is_ansible_cores_own_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    if os.path.exists("/etc/ansible/ansible.cfg"):
        assert site_config_file() == "/etc/ansible/ansible.cfg"
    else:
        assert site_config_file() is None
    (work / "ansible.cfg").write_text("[defaults]\n")
    assert site_config_file() == str(work / "ansible.cfg")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "site.cfg"))
    (tmp_path / "site.cfg").write_text("[defaults]\n")
    assert site_config_file() == str(tmp_path / "site.cfg")


def test_the_backend_job_reads_the_site_config_and_keeps_its_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.cfg"
    site.write_text("[defaults]\nforks = 3\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(site))
    monkeypatch.setenv("ARA_API_SERVER", "http://127.0.0.1:1")
    backend = AnsibleRunnerBackend(tmp_path / "state", project_dir=tmp_path, shm_dir=tmp_path)
    request = PhaseRequest(phase=Phase.SCAN, hosts=("h",), inventory=fake_inventory(["h"]), task_timeout_s=7)
    env = backend._env(request, "tok", tmp_path / "cp")
    assert env["ANSIBLE_CONFIG"] == str(site)
    assert env["ANSIBLE_TASK_TIMEOUT"] == "7"
    assert set(RUN_OVERRIDES) <= set(env)
    assert job_env({**os.environ, **env}, env, os.environ)["ARA_API_SERVER"] == "http://127.0.0.1:1"


# -- per-task timeouts ---------------------------------------------------------------------------------


def _failed(host: str, task: str, res: dict[str, object]) -> dict[str, object]:
    return {"event": "runner_on_failed", "event_data": {"host": host, "task": task, "res": res}}


def test_a_task_ended_by_its_timeout_makes_the_host_timed_out() -> None:
    tracker = TaskTimeouts()
    timed = {"failed": True, "msg": "The shell action failed to execute in the expected time frame (5)",
             "timedout": {"frame": "...", "period": 5}}  # fmt: skip
    assert tracker.feed(_failed("a", "apt install", timed))
    assert not tracker.feed(_failed("b", "apt install", {"failed": True, "msg": "E: broken"}))
    assert not tracker.feed({"event": "runner_on_ok", "event_data": {"host": "c", "res": {}}})
    failed = {
        h: PhaseResult(phase=Phase.INSTALL, host=h, ok=False, outcome=HostOutcome.FAILED) for h in ("a", "b")
    }
    out = tracker.apply(failed)
    assert out["a"].outcome is HostOutcome.TIMED_OUT and not out["a"].ok
    assert out["a"].failed_task == "apt install" and "after 5 s" in (out["a"].message or "")
    assert out["b"].outcome is HostOutcome.FAILED


def test_an_ignored_timeout_or_an_unreachable_host_stays_as_it_is() -> None:
    tracker = TaskTimeouts()
    event = _failed("a", "t", {"failed": True, "timedout": {"period": 1}})
    event["event_data"]["ignore_errors"] = True  # type: ignore[index]
    assert not tracker.feed(event)
    tracker.feed(_failed("b", "t", {"failed": True, "timedout": {"period": 1}}))
    lost = PhaseResult(phase=Phase.VERIFY, host="b", ok=False, outcome=HostOutcome.UNREACHABLE)
    assert tracker.apply({"b": lost})["b"].outcome is HostOutcome.UNREACHABLE


# -- the secret channel --------------------------------------------------------------------------------


def test_secret_files_live_in_ram_named_by_their_owner_and_stale_ones_are_swept(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    mine = write_secret_file({"pw": "x"}, shm)
    assert mine.parent == shm and mine.name.startswith(f"otorch-secrets-{os.getpid()}-")
    assert stat.S_IMODE(mine.stat().st_mode) == 0o600
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = shm / f"otorch-secrets-{dead.pid}-abc.json"
    stale.write_text("{}")
    other = shm / "unrelated.json"
    other.write_text("{}")
    assert sweep_stale_secret_files(shm) == [stale]
    assert mine.exists() and other.exists() and not stale.exists()


def test_no_ram_filesystem_no_secret_file(tmp_path: Path) -> None:
    with pytest.raises(SecretChannelUnavailable, match="never on disk"):
        write_secret_file({"pw": "x"}, tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []
