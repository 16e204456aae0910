"""Each phase playbook through the real AnsibleRunnerBackend against the lab hosts, asserting the parsed
PhaseResults. Hosts that are changed are reset to the lab baseline afterwards (lab.reset)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _roles_helpers import CANARY, ENV_CANARY, LabRunner, dpkg_status, patch_entry

from otorchestrator.execution.backend import RunStatus
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.results import HostOutcome, Phase

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def runner(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRunner]:
    yield LabRunner(lab, tmp_path_factory.mktemp("otorch-state"))


def names(result: object) -> set[str]:
    return {c.name for c in result.failed_checks}  # type: ignore[attr-defined]


def test_scan_reports_os_packages_services_ports_disk_memory_and_config_hashes(runner: LabRunner) -> None:
    entry = patch_entry(runner.lab, "nwc-hmi-runtime")
    out = runner.run(Phase.SCAN, {"nw-hmi-02": [entry]})
    r = out.results["nw-hmi-02"]
    assert out.status == RunStatus.SUCCESSFUL and r.ok and r.outcome == HostOutcome.OK
    v = r.values
    assert v["os"]["distribution"] == "Debian" and v["os"]["major_version"] == "12"
    assert v["packages"]["nwc-hmi-runtime"] == "1.0.0" and r.versions_before == {"nwc-hmi-runtime": "1.0.0"}
    assert v["services"]["nwc-hmi-runtime"] == "running"
    assert 9103 in v["listening_tcp_ports"] and 22 in v["listening_tcp_ports"]
    assert v["disk_free_mb"]["/"] > 0 and v["memory"]["total_mb"] > 0
    conf = runner.lab.sh("nw-hmi-02", "sha256sum /etc/nwc/nwc-hmi-runtime.conf").stdout.split()[0]
    assert v["config_sha256"] == {"/etc/nwc/nwc-hmi-runtime.conf": conf}


def test_diagnostics_fail_on_the_nearly_full_disk_and_pass_elsewhere(runner: LabRunner) -> None:
    lab = runner.lab
    hosts = {
        "nw-hist-01": [patch_entry(lab, "nwc-historian")],
        "nw-hmi-02": [patch_entry(lab, "nwc-hmi-runtime")],
        "nw-gw-01": [patch_entry(lab, "nwc-gateway")],
    }
    out = runner.run(Phase.DIAGNOSTICS, hosts)
    hist = out.results["nw-hist-01"]
    assert not hist.ok and hist.outcome == HostOutcome.FAILED and names(hist) == {"disk_free:/opt/nwc"}
    check = next(c for c in hist.checks if c.name == "disk_free:/opt/nwc")
    assert check.value <= 2 and check.threshold == 20  # df -m rounds the ~1.5 MiB up
    for host in ("nw-hmi-02", "nw-gw-01"):
        r = out.results[host]
        assert r.ok and r.outcome == HostOutcome.OK, r.failed_checks
        got = {c.name for c in r.checks}
        assert {"repo_signature", "dpkg_lock_free", "memory_available_mb", "reboot_not_pending"} <= got
        assert f"service_running:{hosts[host][0]['package']}" in got


def test_diagnostics_without_required_free_mb_use_the_default_thresholds(runner: LabRunner) -> None:
    """A catalog entry that declares no free-space need is still checked (safety first), install roots too."""
    entry = {k: v for k, v in patch_entry(runner.lab, "nwc-historian").items() if k != "required_free_mb"}
    hist = runner.run(Phase.DIAGNOSTICS, {"nw-hist-01": [entry]}).results["nw-hist-01"]
    assert not hist.ok and hist.outcome == HostOutcome.FAILED and names(hist) == {"disk_free:/opt/nwc"}
    disk = {c.name: c for c in hist.checks if c.name.startswith("disk_free:")}
    defaults = ("/var/cache/apt/archives", "/usr", "/opt", "/opt/nwc")
    assert {f"disk_free:{p}" for p in defaults} <= set(disk)
    assert disk["disk_free:/opt/nwc"].threshold == 100 and disk["disk_free:/opt/nwc"].value <= 2
    assert all("default threshold" in c.detail for c in disk.values())
    assert hist.values["disk_threshold_defaulted"] == ["nwc-historian"]
    assert "/opt/nwc" in hist.values["install_roots"]


def test_diagnostics_fail_on_a_bad_repository_signature(runner: LabRunner) -> None:
    lab = runner.lab
    rogue = "deb [signed-by=/etc/apt/keyrings/nwc-archive.gpg] file:/srv/nwc-rogue ./"
    lab.sh("nw-gw-01", f"echo '{rogue}' > /tmp/otorch-rogue.list")
    try:
        out = runner.run(
            Phase.DIAGNOSTICS,
            {"nw-gw-01": [patch_entry(lab, "nwc-gateway")]},
            otorch_repo_sourcelist="/tmp/otorch-rogue.list",
        )
    finally:
        lab.sh("nw-gw-01", "rm -f /tmp/otorch-rogue.list")
    r = out.results["nw-gw-01"]
    assert not r.ok and "repo_signature" in names(r)


def test_backup_is_verified_and_a_corrupted_archive_is_detected(runner: LabRunner) -> None:
    entry = patch_entry(runner.lab, "nwc-hmi-runtime")
    out = runner.run(Phase.BACKUP, {"nw-hmi-02": [entry]}, otorch_backup_id="itest-bk-1")
    r = out.results["nw-hmi-02"]
    assert r.ok and r.backup_id == "itest-bk-1", r.failed_checks
    archive = Path(r.values["archive"])
    assert archive == runner.state / "backups" / "itest-bk-1" / "nw-hmi-02.tar.gz"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == r.values["archive_sha256"]
    assert next(c for c in r.checks if c.name == "checksum_verified").ok
    verify = runner.run(
        Phase.BACKUP, {"nw-hmi-02": [entry]}, otorch_backup_id="itest-bk-1", otorch_backup_verify_only=True
    )
    assert verify.results["nw-hmi-02"].ok
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    bad = runner.run(
        Phase.BACKUP, {"nw-hmi-02": [entry]}, otorch_backup_id="itest-bk-1", otorch_backup_verify_only=True
    ).results["nw-hmi-02"]
    assert not bad.ok and "checksum_verified" in names(bad) and bad.outcome == HostOutcome.FAILED


def test_install_verify_and_rollback(runner: LabRunner) -> None:
    lab = runner.lab
    hosts = {
        "nw-hmi-02": [patch_entry(lab, "nwc-hmi-runtime")],
        "nw-gw-01": [patch_entry(lab, "nwc-gateway")],
    }
    conf = {h: lab.sh(h, f"sha256sum {e[0]['config_files'][0]}").stdout.split()[0] for h, e in hosts.items()}
    try:
        backup = runner.run(Phase.BACKUP, hosts, otorch_backup_id="itest-bk-2")
        assert all(r.ok and r.backup_id == "itest-bk-2" for r in backup.results.values())
        install = runner.run(Phase.INSTALL, hosts)
        for host, r in install.results.items():
            assert r.ok, (host, r.failed_checks, r.message)
            assert r.versions_before[hosts[host][0]["package"]] == "1.0.0"
            assert r.versions_after[hosts[host][0]["package"]] == "1.1.0"
        verify = runner.run(Phase.VERIFY, hosts)
        assert verify.results["nw-hmi-02"].ok
        gw = verify.results["nw-gw-01"]
        assert not gw.ok and gw.outcome == HostOutcome.FAILED
        assert {"port_listening:9104", "service_running:nwc-gateway", "health:nwc-gateway"} <= names(gw)
        assert "version:nwc-gateway" not in names(gw)
        lab.sh("nw-gw-01", "echo '# drift' >> /etc/nwc/nwc-gateway.conf")
        rollback = runner.run(Phase.ROLLBACK, hosts, otorch_backup_ids={h: "itest-bk-2" for h in hosts})
        for host, r in rollback.results.items():
            assert r.ok, (host, r.failed_checks)
            pkg = hosts[host][0]["package"]
            assert r.versions_after == {pkg: "1.0.0"}
            now = lab.sh(host, f"sha256sum /etc/nwc/{pkg}.conf").stdout.split()[0]
            assert now == conf[host]
            assert lab.sh(host, f"/usr/bin/{pkg}-health", check=False).returncode == 0
    finally:
        lab.reset(*hosts)


def test_install_of_eng_suite_fails_and_rollback_recovers_it(runner: LabRunner) -> None:
    lab = runner.lab
    hosts = {"nw-ews-01": [patch_entry(lab, "nwc-eng-suite")]}
    try:
        assert runner.run(Phase.BACKUP, hosts, otorch_backup_id="itest-bk-3").results["nw-ews-01"].ok
        r = runner.run(Phase.INSTALL, hosts).results["nw-ews-01"]
        assert not r.ok and r.outcome == HostOutcome.FAILED
        assert {"install_step", "installed:nwc-eng-suite"} <= names(r)
        assert r.versions_after == {"nwc-eng-suite": "1.1.0"}  # half-configured (iF)
        back = runner.run(Phase.ROLLBACK, hosts, otorch_backup_id="itest-bk-3").results["nw-ews-01"]
        assert back.ok and back.versions_after == {"nwc-eng-suite": "1.0.0"}, back.failed_checks
        status = lab.sh("nw-ews-01", "dpkg-query -W -f='${db:Status-Abbrev}${Version}' nwc-eng-suite").stdout
        assert status == "ii 1.0.0"
    finally:
        lab.reset(*hosts)


def test_rollback_from_a_tampered_backup_restores_nothing_and_check_mode_changes_nothing(
    runner: LabRunner,
) -> None:
    """A dry run of the rollback of a patched host passes and changes nothing; a backup whose archive no
    longer matches its manifest is never restored from: the host stays patched, the baseline checks say so."""
    lab, host, pkg = runner.lab, "nw-hist-01", "nwc-historian"
    hosts = {host: [patch_entry(lab, pkg)]}
    try:
        assert runner.run(Phase.BACKUP, hosts, otorch_backup_id="itest-bk-4").results[host].ok
        assert runner.run(Phase.INSTALL, hosts).results[host].ok
        dry = runner.run(Phase.ROLLBACK, hosts, check_mode=True, otorch_backup_id="itest-bk-4").results[host]
        assert dry.ok and dry.versions_after == {pkg: "1.1.0"}, dry.failed_checks
        assert next(c for c in dry.checks if c.name == f"version:{pkg}").detail == "check mode: not restored"
        assert dpkg_status(lab, host, pkg) == "ii 1.1.0"
        archive = runner.state / "backups" / "itest-bk-4" / f"{host}.tar.gz"
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF
        archive.write_bytes(bytes(data))
        bad = runner.run(Phase.ROLLBACK, hosts, otorch_backup_id="itest-bk-4").results[host]
        assert not bad.ok and bad.outcome == HostOutcome.FAILED
        step = next(c for c in bad.checks if c.name == "rollback_step")
        assert step.value == "Refuse to restore from an unverified backup"
        assert f"backup itest-bk-4 of {host} does not verify" in step.detail
        assert {"backup_verified", "rollback_step", f"version:{pkg}"} <= names(bad)
        assert "backup_extracted" not in {c.name for c in bad.checks}
        assert bad.versions_before == {pkg: "1.0.0"} and bad.versions_after == {pkg: "1.1.0"}
        assert dpkg_status(lab, host, pkg) == "ii 1.1.0"
    finally:
        lab.reset(*hosts)


PUSH_DIR = "/var/cache/otorch/debs"  # ot_patch_remote_dir


def test_push_mode_installs_the_verified_artifact_and_check_mode_copies_nothing(runner: LabRunner) -> None:
    """Air-gapped install: the lab's built .deb, sha256 checked on the controller and the host, apt deb=."""
    lab, host, pkg = runner.lab, "nw-hmi-01", "nwc-hmi-runtime"
    entry = patch_entry(lab, pkg)
    push = {"otorch_patch_mode": "push", "otorch_artifact_dir": str(lab.cfg.repo_dir / "main")}
    remote = f"{PUSH_DIR}/{entry['artifact']}"
    try:
        dry = runner.run(Phase.INSTALL, {host: [entry]}, check_mode=True, **push).results[host]
        assert dry.ok and dry.outcome == HostOutcome.OK, (dry.failed_checks, dry.message)
        host_check = next(c for c in dry.checks if c.name == f"artifact_sha256:{entry['artifact']}")
        assert "check mode: not copied" in host_check.detail
        assert lab.sh(host, f"test -e {remote}", check=False).returncode == 1  # check mode copied nothing
        assert dpkg_status(lab, host, pkg) == "ii 1.0.0"

        out = runner.run(Phase.INSTALL, {host: [entry]}, **push)
        r = out.results[host]
        assert out.status == RunStatus.SUCCESSFUL and r.ok, (r.failed_checks, r.message)
        assert r.values["mode"] == "push"
        assert r.versions_before == {pkg: "1.0.0"} and r.versions_after == {pkg: "1.1.0"}
        passed = {c.name for c in r.checks if c.ok}
        assert {
            f"artifact_sha256_controller:{entry['artifact']}",
            f"artifact_sha256:{entry['artifact']}",
            f"installed:{pkg}",
        } <= passed
        assert dpkg_status(lab, host, pkg) == "ii 1.1.0"
        assert lab.sh(host, f"sha256sum {remote}").stdout.split()[0] == entry["sha256"]
        assert lab.sh(host, f"/usr/bin/{pkg}-health", check=False).returncode == 0
    finally:
        lab.reset(host)


def test_push_mode_refuses_a_tampered_artifact_and_a_wrong_sha256_before_install(
    runner: LabRunner, tmp_path: Path
) -> None:
    lab = runner.lab
    hmi, gw = patch_entry(lab, "nwc-hmi-runtime"), patch_entry(lab, "nwc-gateway")
    built = lab.cfg.repo_dir / "main"
    for entry in (hmi, gw):
        (tmp_path / entry["artifact"]).write_bytes((built / entry["artifact"]).read_bytes())
    tampered = tmp_path / hmi["artifact"]
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))  # the catalog's sha256 stays that of the real build
    gw["sha256"] = "0" * 64  # an intact artifact whose catalog sha256 is wrong
    hosts = {"nw-hmi-01": [hmi], "nw-gw-01": [gw]}
    try:
        out = runner.run(Phase.INSTALL, hosts, otorch_patch_mode="push", otorch_artifact_dir=str(tmp_path))
        assert out.status == RunStatus.FAILED
        for host, (entry,) in hosts.items():
            r = out.results[host]
            assert not r.ok and r.outcome == HostOutcome.FAILED
            refused = {f"artifact_sha256_controller:{entry['artifact']}", "install_step"}
            assert refused <= names(r), r.failed_checks
            assert r.versions_after == {entry["package"]: "1.0.0"}
            assert dpkg_status(lab, host, entry["package"]) == "ii 1.0.0"
            # refused on the controller: the artifact never reached the host
            assert lab.sh(host, f"test -e {PUSH_DIR}/{entry['artifact']}", check=False).returncode == 1
    finally:
        lab.reset(*hosts)


def test_timeout_leaves_no_process_behind(runner: LabRunner, tmp_path: Path) -> None:
    """A phase that outlives its timeout is killed, with its ssh ControlPersist masters."""
    from otorchestrator.execution.backend import PhaseRequest
    from otorchestrator.execution.inventory import phase_inventory

    req = PhaseRequest(
        phase=Phase.VERIFY,
        hosts=("nw-hmi-02",),
        inventory=phase_inventory(runner.inventory, ("nw-hmi-02",)),
        extravars={
            "otorch_patches": {"nw-hmi-02": []},
            "otorch_verify_checks": {"nw-hmi-02": [{"name": "slow", "command": "sleep 120"}]},
        },
        timeout_s=8,
        run_label="itest-timeout",
    )
    out = runner.backend.run_phase(req)
    assert out.status == RunStatus.TIMEOUT
    assert out.results["nw-hmi-02"].outcome == HostOutcome.TIMED_OUT
    leftovers = subprocess.run(
        ["pgrep", "-f", "itest-timeout"], capture_output=True, text=True
    ).stdout.split()
    assert [p for p in leftovers if int(p) != os.getpid()] == []
    masters = subprocess.run(["pgrep", "-fa", r"otcp-.*\[mux\]"], capture_output=True, text=True).stdout
    for line in masters.splitlines():  # a master of a finished run would point into a removed dir
        sock = Path(line.split()[2])
        assert sock.parent.is_dir(), f"ssh master outlived its run: {line}"


def test_canary_secret_never_reaches_the_private_data_dirs(runner: LabRunner) -> None:
    runs = runner.state / "runner"
    dirs = list(runs.iterdir())
    assert dirs, "the tests above ran phases"
    for canary in (CANARY, ENV_CANARY):  # a secret extra var, and a secret in the controller's env
        hits = subprocess.run(["grep", "-rl", canary, str(runs)], capture_output=True, text=True)
        assert hits.stdout == "" and hits.returncode == 1, f"{canary} found in {hits.stdout}"
    commands = list(runs.glob("*/artifacts/run/command"))
    assert commands, "ansible-runner wrote its command files"
    for left in Path("/dev/shm").glob("otorch-secrets-*"):  # other runs may be live; ours are removed
        assert CANARY not in left.read_text(errors="replace")
