"""ot_scan's probe module (roles/ot_scan/library/ot_scan_probe.py) in-process, the host's commands answered
with outputs recorded on the lab's nw-hmi-02 at the baseline (tests/fixtures/role_probes/): the values the
task chain built from them (packages, services, sockets, disk, memory, config hashes) and a failing probe."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from role_modules import fixture, module, run_module

S = module("ot_scan", "ot_scan_probe")

SKIP = ["proc", "sysfs", "tmpfs"]


class Hmi:
    """The recorded nw-hmi-02 (SysV services, no systemd)."""

    def __init__(self, dpkg_rc: int = 0) -> None:
        self.dpkg_rc = dpkg_rc
        self.calls: list[list[str]] = []

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:2] == ["dpkg-query", "-W"]:
            extra = "nwc-eng-suite\t1.1.0\tiF \nold-tool\t0.9\trc \n"
            return self.dpkg_rc, fixture("dpkg_query_all_hmi.txt") + extra, "dpkg: database locked"
        if argv == ["service", "--status-all"]:
            return 0, fixture("service_status_all_hmi.txt"), ""
        if argv[0] == "ss":
            return 0, fixture("ss_tcp_udp_hmi.txt") + "udp UNCONN 0 0 127.0.0.11:52025 0.0.0.0:*\n", ""
        if argv[0] == "df":
            return 0, fixture("df_hmi.txt"), ""
        raise AssertionError(argv)


@pytest.fixture
def hmi(monkeypatch: pytest.MonkeyPatch) -> Hmi:
    from ansible.module_utils import basic

    host = Hmi()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: host.run(argv))
    paths = {"dpkg-query": "/usr/bin/dpkg-query", "dpkg": "/usr/bin/dpkg", "service": "/usr/sbin/service"}
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: paths.get(name))
    monkeypatch.setattr(S, "is_systemd_managed", lambda module: False)
    monkeypatch.setattr(S, "read_text", lambda path: fixture("meminfo_hist.txt"))
    return host


def test_the_scan_values_of_the_recorded_host(
    hmi: Hmi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "nwc-hmi-runtime.conf"
    conf.write_text("port = 9103\n")
    params = {
        "config_files": [str(tmp_path / "missing.conf"), str(conf), str(tmp_path)],
        "skip_fstypes": SKIP,
    }
    out = run_module(S, params, monkeypatch)
    assert out["changed"] is False and out["checks"] == [S.check("scan_complete", True)]
    v = out["values"]
    # this machine's own OS, read by ansible-core's collectors (the lab's Debian 12: test_playbooks)
    assert set(v["os"]) == {"family", "distribution", "version", "major_version", "kernel", "architecture"}
    assert str(v["os"]["version"]).startswith(str(v["os"]["major_version"])) and v["os"]["kernel"]
    assert len(v["packages"]) == 140 and v["packages"]["nwc-hmi-runtime"] == "1.0.0"
    assert v["packages"]["nwc-eng-suite"] == "1.1.0" and "old-tool" not in v["packages"]
    assert v["package_status"] == {"nwc-eng-suite": "iF"}
    assert v["services"] == {
        "nwc-drill-agent": "running",
        "nwc-hmi-runtime": "running",
        "procps": "stopped",
        "ssh": "running",
        "sudo": "stopped",
    }
    assert v["listening"] == [
        "tcp 0.0.0.0:22",
        "tcp 0.0.0.0:9103",
        "tcp 0.0.0.0:9106",
        "tcp [::]:22",
        "udp 127.0.0.11:52025",
    ]
    assert v["listening_tcp_ports"] == [22, 9103, 9106]
    assert v["disk_free_mb"] == {"/": 77305, "/srv/nwc-repo": 77305}
    assert v["disk_fstype"] == {"/": "overlay", "/srv/nwc-repo": "ext4"}
    assert v["memory"] == {"total_mb": 24683568 // 1024, "available_mb": 22755576 // 1024}
    digest = hashlib.sha256(b"port = 9103\n").hexdigest()
    # present files first, then the absent ones (and what is not a regular file) as null: the chain's combine
    assert list(v["config_sha256"].items()) == [
        (str(conf), digest),
        (str(tmp_path / "missing.conf"), None),
        (str(tmp_path), None),
    ]
    assert hmi.calls[-1][:4] == ["df", "-m", "--output=fstype,avail,target", "--exclude-type=proc"]


def test_the_package_regex_keeps_the_matching_names(hmi: Hmi, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_module(S, {"package_regex": "nwc-"}, monkeypatch)
    assert out["values"]["packages"] == {
        "nwc-drill-agent": "1.0.0",
        "nwc-hmi-runtime": "1.0.0",
        "nwc-eng-suite": "1.1.0",
    }


def test_a_failing_probe_fails_scan_complete_with_no_values(
    hmi: Hmi, monkeypatch: pytest.MonkeyPatch
) -> None:
    hmi.dpkg_rc = 2
    out = run_module(S, {}, monkeypatch)
    assert out["values"] == {}
    assert [(c["name"], c["ok"], c["value"]) for c in out["checks"]] == [
        ("scan_complete", False, "Read installed packages (dpkg)")
    ]
    assert "rc=2" in out["checks"][0]["detail"] and "database locked" in out["checks"][0]["detail"]
    empty = S.scan(
        {"config_files": [], "package_regex": "", "skip_fstypes": []},
        lambda argv: (
            (1, "Type Avail Mounted on\n", "df: no file systems processed")
            if argv[0] == "df"
            else (0, "", "")
        ),
        lambda: {},
        lambda: {},
        lambda: "",
    )
    assert empty[0][0]["value"].startswith("Read free disk per mount") and empty[1] == {}


def test_systemd_units_then_unit_files_as_service_facts_merges_them() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        if argv[1] == "list-units":
            return 0, fixture("systemctl_list_units.txt"), ""
        if argv[1] == "list-unit-files":
            return 0, fixture("systemctl_list_unit_files.txt"), ""
        if argv[1] == "--status-all":
            return 0, fixture("service_status_all_hmi.txt"), ""
        return 0, "ActiveState=inactive\n", ""

    states = S.all_services(
        run, lambda name: "/usr/bin/" + name if name in ("systemctl", "service") else None, True
    )
    assert states == {
        "nwc-drill-agent": "running",  # sysv's answers, then systemd's units by their own names
        "nwc-hmi-runtime": "running",
        "procps": "stopped",
        "ssh": "running",
        "sudo": "stopped",
        "cron.service": "running",
        "nwc-gateway.service": "stopped",
        "nwc-hmi-runtime.service": "running",
        "ssh.service": "stopped",
        "nosuch.service": "stopped",
        "apt-daily.service": "inactive",
    }
    assert calls[-1] == ["/usr/bin/systemctl", "show", "apt-daily.service", "--property=ActiveState"]


def test_a_non_dpkg_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    out = run_module(S, {}, monkeypatch)
    assert out["failed"] and [c["name"] for c in out["checks"]] == ["os_supported"]
