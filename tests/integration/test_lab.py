"""The lab itself: real hosts reached by Ansible over SSH, the signed repository, the vendor packages'
behaviour, and the lifecycle (`lab up` twice, leftovers, `lab down`).

Tests that take a lab down run on their own instance (OTORCH_LAB_NAME=otlabtest, ports +1000, 2 hosts) so the
session lab used by every other integration test stays up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from otorchestrator.lab import LabConfig, lifecycle, podman
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason

pytestmark = pytest.mark.lab

OTORCH = str(Path(sys.executable).parent / "otorch")
# the lifecycle tests' own lab instance; never the one the session fixture uses
TEST_LAB_ENV = (
    {"OTORCH_LAB_NAME": "otlabtest", "OTORCH_LAB_PORT_OFFSET": "1000"}
    if os.environ.get("OTORCH_LAB_NAME") != "otlabtest"
    else {"OTORCH_LAB_NAME": "otlabcycle", "OTORCH_LAB_PORT_OFFSET": "2000"}
)


def _run_playbook(lab: LabHandle, tmp_path: Path, playbook: str, limit: str | None = None) -> Any:
    pdd = tmp_path / "runner"
    (pdd / "project").mkdir(parents=True)
    (pdd / "project" / "play.yml").write_text(playbook)
    result = ansible_runner.run(
        private_data_dir=str(pdd),
        playbook="play.yml",
        inventory=str(lab.inventory),
        limit=limit,
        envvars=lab.runner_envvars(),
        suppress_env_files=True,
        quiet=True,
        timeout=300,
    )
    return result


def _stdout(result: Any) -> str:
    return str(result.stdout.read()) if result.stdout else ""


def _health(lab: LabHandle, host: str, package: str, timeout: float = 20) -> dict[str, Any]:
    """The service's health JSON once it answers (services may start slowly on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = lab.sh(host, f"/usr/bin/{package}-health", check=False)
        if proc.returncode == 0 or time.monotonic() > deadline:
            assert proc.returncode == 0, f"{host}: {package} not healthy: {proc.stdout} {proc.stderr}"
            return dict(json.loads(proc.stdout))
        time.sleep(0.5)


def test_ansible_reaches_every_lab_host(lab: LabHandle, tmp_path: Path) -> None:
    playbook = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
    - ansible.builtin.setup:
        gather_subset: [min]
    - ansible.builtin.assert:
        that:
          - ansible_facts.distribution == "Debian"
          - ansible_facts.distribution_major_version == "12"
          - ansible_facts.hostname == inventory_hostname
"""
    result = _run_playbook(lab, tmp_path, playbook)
    assert result.rc == 0, _stdout(result)
    assert result.status == "successful"
    ok_hosts = {e["event_data"]["host"] for e in result.events if e["event"] == "runner_on_ok"}
    assert ok_hosts == set(lab.hosts)


def test_package_from_signed_repo_answers_health_then_restore(lab: LabHandle, tmp_path: Path) -> None:
    host = "nw-hmi-01"
    playbook = """
- hosts: nw-hmi-01
  gather_facts: false
  tasks:
    - name: Patch to 1.1.0 from the signed repository
      ansible.builtin.apt:
        name: nwc-hmi-runtime=1.1.0
        update_cache: true
    - ansible.builtin.wait_for: {port: 9103, host: 127.0.0.1, timeout: 10}
    - ansible.builtin.command: /usr/bin/nwc-hmi-runtime-health
      register: health
      changed_when: false
    - ansible.builtin.assert:
        that: [(health.stdout | from_json).version == "1.1.0", (health.stdout | from_json).status == "ok"]
    - ansible.builtin.service: {name: nwc-hmi-runtime, state: restarted}
    - ansible.builtin.wait_for: {port: 9103, host: 127.0.0.1, timeout: 10}
    - name: Restore the baseline (downgrade)
      ansible.builtin.apt:
        name: nwc-hmi-runtime=1.0.0
        allow_downgrade: true
    - ansible.builtin.command: /usr/bin/nwc-hmi-runtime-health
      register: health0
      changed_when: false
    - ansible.builtin.assert:
        that: [(health0.stdout | from_json).version == "1.0.0"]
"""
    result = _run_playbook(lab, tmp_path, playbook, limit=host)
    assert result.rc == 0, _stdout(result)
    assert lab.sh(host, "dpkg-query -W -f='${Version}' nwc-hmi-runtime").stdout == "1.0.0"


def test_gateway_1_1_0_installs_but_service_fails_and_downgrade_recovers(lab: LabHandle) -> None:
    host = "nw-gw-01"
    try:
        lab.sh(host, "apt-get install -y -qq nwc-gateway=1.1.0")  # installs fine
        health = lab.sh(host, "nwc-gateway-health", check=False)
        assert health.returncode != 0 and json.loads(health.stdout)["status"] == "down"
        assert lab.sh(host, "service nwc-gateway status", check=False).returncode in (1, 3)
        lab.sh(host, "apt-get install -y -qq --allow-downgrades nwc-gateway=1.0.0")
        assert _health(lab, host, "nwc-gateway")["version"] == "1.0.0"
    finally:
        lab.reset(host)


def test_eng_suite_1_1_0_fails_to_install_and_downgrade_recovers(lab: LabHandle) -> None:
    host = "nw-ews-01"
    try:
        failed = lab.sh(host, "apt-get install -y -qq nwc-eng-suite=1.1.0", check=False)
        assert failed.returncode != 0
        assert "post-installation script" in failed.stdout + failed.stderr
        assert lab.sh(host, "dpkg-query -W -f='${db:Status-Abbrev}' nwc-eng-suite").stdout.strip() == "iF"
        lab.sh(host, "apt-get install -y -qq --allow-downgrades nwc-eng-suite=1.0.0")
        assert lab.sh(host, "dpkg-query -W -f='${db:Status-Abbrev}' nwc-eng-suite").stdout.strip() == "ii"
        assert _health(lab, host, "nwc-eng-suite")["version"] == "1.0.0"
    finally:
        lab.reset(host)


def test_knobs_full_disk_and_telemetry_leftover(lab: LabHandle) -> None:
    free_kib = int(lab.sh("nw-hist-01", "df -k --output=avail /opt/nwc | tail -1").stdout)
    assert free_kib < 2048
    host = "nw-hmi-02"
    try:
        lab.sh(host, "apt-get install -y -qq nwc-drill-agent=1.1.0")
        lab.sh(host, "apt-get install -y -qq --allow-downgrades nwc-drill-agent=1.0.0")
        # the rollback did not stop the telemetry uploader: port 9199 still answers
        probe = (
            "import http.client as h; c=h.HTTPConnection('127.0.0.1', 9199, timeout=3); c.request('GET', '/')"
        )
        lab.sh(host, f'python3 -c "{probe}"')
    finally:
        lab.reset(host)


def test_repository_signed_by_another_key_is_refused(lab: LabHandle) -> None:
    host = "nw-scada-b"
    # a throw-away sources list and lists dir: the host's own apt state is not touched
    apt = (
        "mkdir -p /tmp/aptcheck/lists/partial && echo 'deb [signed-by=/etc/apt/keyrings/nwc-archive.gpg] "
        "file:{src} ./' > /tmp/aptcheck/{name}.list && apt-get update"
        " -o Dir::Etc::sourcelist=/tmp/aptcheck/{name}.list -o Dir::Etc::sourceparts=-"
        " -o Dir::State::Lists=/tmp/aptcheck/lists -o APT::Update::Error-Mode=any"
    )
    good = lab.sh(host, apt.format(src="/srv/nwc-repo", name="main"), check=False)
    assert good.returncode == 0, good.stderr
    rogue = lab.sh(host, apt.format(src="/srv/nwc-rogue", name="rogue"), check=False)
    lab.sh(host, "rm -rf /tmp/aptcheck")
    assert rogue.returncode != 0
    assert "NO_PUBKEY" in rogue.stderr or "is not signed" in rogue.stderr, rogue.stderr


def test_only_the_signed_lab_repository_is_configured(lab: LabHandle) -> None:
    out = lab.sh(
        "nw-sis-01", "cat /etc/apt/sources.list.d/*; ls /etc/apt/sources.list 2>/dev/null || true"
    ).stdout
    assert out.strip() == "deb [signed-by=/etc/apt/keyrings/nwc-archive.gpg] file:/srv/nwc-repo ./"


# ---- lifecycle, on a separate lab instance -------------------------------------------------------------


def _otorch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TEST_LAB_ENV}
    proc = subprocess.run([OTORCH, "lab", *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False).stdout


def _ids(name: str) -> dict[str, str]:
    out = _podman(
        "ps", "-a", "--filter", f"label=otorchestrator.lab={name}", "--format", "{{.Names}} {{.ID}}"
    )
    return dict(line.split() for line in out.splitlines() if line.strip())


@pytest.fixture(scope="module")
def test_lab() -> Iterator[LabConfig]:
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    cfg = LabConfig.from_env(TEST_LAB_ENV)
    yield cfg
    lifecycle.down(cfg)


def test_lab_up_twice_is_harmless_and_cleans_leftovers(test_lab: LabConfig) -> None:
    image = subprocess.run(
        [str(test_lab.scripts_dir / "image" / "build-image.sh"), "--tag-only"], capture_output=True, text=True
    ).stdout.strip()
    # a half-dead leftover of a killed session: created, never started, same lab name
    _podman("network", "create", f"{test_lab.name}-net")
    _podman(
        "create",
        "--name",
        test_lab.container("nw-scada-a"),
        "--label",
        f"otorchestrator.lab={test_lab.name}",
        image,
        "sleep",
        "1",
    )
    _otorch("up", "--hosts", "2")
    first = _ids(test_lab.name)
    assert set(first) == {test_lab.container("nw-scada-a"), test_lab.container("nw-scada-b")}
    t0 = time.monotonic()
    second_run = _otorch("up", "--hosts", "2")
    assert time.monotonic() - t0 < 30
    assert "already running" in second_run.stdout
    assert _ids(test_lab.name) == first  # same containers, kept running
    status = _otorch("status").stdout
    assert "2/8 host(s) reachable" in status


def test_hosts_whose_conmon_was_killed_are_removed_and_recreated(test_lab: LabConfig) -> None:
    """What a session's end leaves for CI on the same machine: every process killed, podman still listing
    the containers as running, and (fresh clone, new lab key) another owner, so `lab up` removes them
    straight away. podman 4.3 fails the first `rm --force` of such a container ("timed out waiting for
    file .../exits/<id>"); the removal must still succeed, and `lab up` bring fresh hosts."""
    _otorch("up", "--hosts", "2")
    before = _ids(test_lab.name)
    for name in before:
        pids = _podman("inspect", name, "--format", "{{.State.ConmonPid}} {{.State.Pid}}").split()
        subprocess.run(["kill", "-9", *pids], check=True)
    time.sleep(1)
    states = [c.state for c in podman.list_containers(label=f"otorchestrator.lab={test_lab.name}")]
    assert states == ["running", "running"]  # podman has not noticed
    podman.remove_containers(sorted(before))
    assert _ids(test_lab.name) == {}
    _otorch("up", "--hosts", "2")
    after = _ids(test_lab.name)
    assert set(after) == set(before)
    assert "2/8 host(s) reachable" in _otorch("status").stdout


def test_a_scale_lab_starts_generated_hosts_that_ansible_reaches(test_lab: LabConfig) -> None:
    up = _otorch("up", "--hosts", "10")
    assert "scale lab: 10 hosts" in up.stdout
    scale_dir = test_lab.scale_dir
    env = {**os.environ, **TEST_LAB_ENV, "OTORCH_LAB_INVENTORY": str(scale_dir)}
    status = subprocess.run([OTORCH, "lab", "status"], env=env, capture_output=True, text=True, timeout=120)
    assert "10/10 host(s) reachable" in status.stdout, status.stdout + status.stderr
    query = ["-m", "ansible.builtin.command", "-a", "dpkg-query -W nwc-hmi-runtime", "nw-gen-01:nw-gen-02"]
    ping = subprocess.run(
        ["ansible", "-i", str(scale_dir), *query, "-o"], env=env, capture_output=True, text=True, timeout=120
    )
    found = ping.stdout.count("nwc-hmi-runtime\t1.0.0")
    assert ping.returncode == 0 and found == 2, ping.stdout + ping.stderr


def test_lab_down_leaves_nothing_behind(test_lab: LabConfig) -> None:
    _otorch("up", "--hosts", "2")
    _otorch("down")
    assert _ids(test_lab.name) == {}
    assert subprocess.run(["podman", "network", "exists", f"{test_lab.name}-net"]).returncode != 0
    time.sleep(1)
    procs = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout.splitlines()
    leftovers = [p for p in procs if f"{test_lab.name}-" in p and not p.startswith("Z")]
    assert leftovers == []
    for port in (test_lab.port(22201), test_lab.port(22202)):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
