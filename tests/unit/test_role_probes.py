"""The shared host probes of the roles' modules (roles/ot_common/module_utils/otorch_probe.py and
otorch_services.py) against recorded outputs of the lab's hosts (tests/fixtures/role_probes/)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from role_modules import fixture, probe, services

P = probe()
S = services()


def test_dpkg_rows_keep_present_packages_with_trimmed_status() -> None:
    state = P.parse_dpkg(fixture("dpkg_query_hist.txt"))
    assert state["nwc-historian"] == {"v": "1.0.0", "s": "ii"}
    assert state["openssh-server"]["v"].startswith("1:9.2p1")
    assert "nosuch-pkg" not in state
    # removed (config files left) and not-installed rows are absent; half-installed counts as present
    rows = "a\t1.0\trc \nb\t\tun \nc\t2.0\tiU \nd\t3.0\tiF \n"
    assert P.parse_dpkg(rows) == {"c": {"v": "2.0", "s": "iU"}, "d": {"v": "3.0", "s": "iF"}}
    assert P.now_of(state, "nosuch-pkg") == (None, "not-installed")


def test_dpkg_state_asks_only_for_named_packages_and_raises_when_dpkg_fails() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        return 1, fixture("dpkg_query_hist.txt"), "dpkg-query: no packages found matching nosuch-pkg"

    assert set(P.dpkg_state(run, ["nwc-historian", "", "nosuch-pkg"])) == {"nwc-historian", "openssh-server"}
    assert calls[0][:2] == ["dpkg-query", "-W"] and calls[0][3:] == ["nwc-historian", "nosuch-pkg"]
    assert P.dpkg_state(run, []) == {} and len(calls) == 1
    with pytest.raises(P.ProbeError, match="rc=2"):
        P.dpkg_state(lambda argv: (2, "", "database locked"), ["x"])


def test_listening_ports_from_ss() -> None:
    assert S.parse_ss_listening(fixture("ss_listening_hmi.txt")) == [22, 9103, 9106]
    with pytest.raises(P.ProbeError):
        S.listening_tcp_ports(lambda argv: (1, "", "ss: not found"))


def test_service_states_sysv_and_systemd() -> None:
    sysv = S.parse_sysv_status_all(fixture("service_status_all_hmi.txt"))
    assert sysv["nwc-hmi-runtime"] == "running" and sysv["procps"] == "stopped"
    assert "hwclock.sh" not in sysv  # '[ ? ]': unknown, as service_facts leaves it out
    assert S.parse_systemctl_show(fixture("systemctl_show.txt")) == {
        "nwc-hmi-runtime": "running",
        "nwc-gateway": "stopped",
        "nosuch": "absent",
    }

    def run(argv: list[str]) -> tuple[int, str, str]:
        assert argv[0] == "systemctl", argv
        return 0, fixture("systemctl_show.txt"), ""

    asked: list[tuple[list[str], str]] = []

    def sysv(names: list[str], environ: dict[str, str]) -> dict[str, str]:
        asked.append((names, environ["LC_ALL"]))
        return {n: s for n, s in sysv_recorded.items() if n in names}

    names = ["nwc-hmi-runtime", "nwc-gateway", "nosuch"]
    assert S.service_states(run, names, systemd=True) == {
        "nwc-hmi-runtime": "running",
        "nwc-gateway": "stopped",
        "nosuch": "absent",
    }
    sysv_recorded = S.parse_sysv_status_all(fixture("service_status_all_hmi.txt"))
    assert S.service_states(run, [*names, "nwc-hmi-runtime.service"], systemd=False, sysv=sysv) == {
        "nwc-hmi-runtime": "running",
        "nwc-gateway": "absent",
        "nosuch": "absent",
        "nwc-hmi-runtime.service": "running",
    }
    assert asked == [(names, "C")]  # each script once, in the C locale as before


def recorded_sysv_status(name: str) -> dict[str, tuple[int, str]]:
    """{script: (rc, output)} of a fixture of `### <script> rc=<n>` sections (each script's `status`)."""
    out: dict[str, tuple[int, str]] = {}
    for section in fixture(name).split("### ")[1:]:
        head, _, body = section.partition("\n")
        script, rc = head.rsplit(" rc=", 1)
        out[script] = (int(rc), body)
    return out


def test_each_scripts_status_is_worded_as_service_status_all_words_it() -> None:
    # both recorded on nw-hmi-02 at once: every /etc/init.d script's `status`, and `service --status-all`
    recorded = recorded_sysv_status("sysv_status_hmi.txt")
    words = {script: S.parse_sysv_status(rc, out) for script, (rc, out) in recorded.items()}
    assert words == {**S.parse_sysv_status_all(fixture("service_status_all_hmi.txt")), "hwclock.sh": None}
    assert words["procps"] == "stopped" and recorded["procps"] == (0, "")  # exit 0 but silent: '[ - ]'
    assert S.parse_sysv_status(0, "\n\n") == "stopped" and S.parse_sysv_status(3, "USAGE: x") is None


def waits_for(me: str, other: str) -> str:
    wait = f"i=0; until [ -e {other}.up ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done"
    return f"touch {me}.up; {wait}; [ -e {other}.up ] && echo up"


def test_sysv_states_ask_only_the_named_scripts_all_at_once_as_service_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    initd = tmp_path / "init.d"
    initd.mkdir()
    scripts = {
        "running": 'echo "running (pid 1)"',
        "silent": "exit 0",
        "dead": 'echo "not running"; exit 3',
        "usage": 'echo "Usage: usage {start|stop}" >&2; exit 1',
        # service(8) runs the script in /etc/init.d with only the locale, PATH and TERM of its environment
        "env": f'[ -z "$OTORCH_SECRET" ] && [ "$LC_ALL" = C ] && [ "$PWD" = {initd} ] && echo ok',
        # each one waits (up to 10 s) for the other to have started: both run only when asked at once
        "a": waits_for("a", "b"),
        "b": waits_for("b", "a"),
        "README": "echo skipped",
        "noexec": "echo never",
    }
    for name, body in scripts.items():
        path = initd / name
        path.write_text(f"#!/bin/sh\ncase $1 in status) {body} ;; *) exit 2 ;; esac\n")
        path.chmod(0o644 if name == "noexec" else 0o755)
    environ = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "OTORCH_SECRET": "x"}
    names = [*scripts, "nosuch", "../init.d/running", ".hidden"]
    assert S.sysv_states(names, environ, initd=str(initd)) == {
        "running": "running",
        "silent": "stopped",
        "dead": "stopped",
        "env": "running",
        "a": "running",
        "b": "running",
    }
    assert S.sysv_script("README", str(initd)) is None and S.sysv_script("x.dpkg-old", str(initd)) is None
    assert S.run_at_once([["/nonexistent/tool"]])[0][0] == 126


def test_mounts_memory_and_locks() -> None:
    mounts = P.parse_mountinfo(fixture("mountinfo_hist.txt"))
    assert ("/opt/nwc", "tmpfs") in mounts
    assert P.mount_of("/opt/nwc/bin/nwc-historian", mounts) == "/opt/nwc"
    assert P.mount_of("/opt/nwcx/file", mounts) == "/"
    assert P.mount_of("/usr/bin/dpkg", mounts) == "/"
    assert P.parse_meminfo_available_mb(fixture("meminfo_hist.txt")) > 0
    assert P.parse_meminfo_available_mb("MemTotal: 2048 kB\nMemAvailable:     1536000 kB\n") == 1500
    assert P.parse_locked_inodes(fixture("proc_locks.txt")) == {1311, 786451, 2118}
    files = P.parse_dpkg_files(fixture("dpkg_files_hist.txt"))
    assert files and all(f.startswith("/") for f in files)
    assert P.existing_parent("/nonexistent-otorch/a/b") == "/"


def test_file_info_names_checksum_mode_and_owner(tmp_path: Path) -> None:
    f = tmp_path / "a.conf"
    f.write_text("x=1\n")
    f.chmod(0o640)
    info = P.file_info(str(f), owner_of=lambda st: ("root", "adm"))
    want = hashlib.sha256(b"x=1\n").hexdigest()
    assert info == {"checksum": want, "mode": "0640", "pw_name": "root", "gr_name": "adm"}
    assert P.file_info(str(tmp_path / "missing")) is None


def test_wait_port_sees_a_listener_and_times_out_on_a_closed_port() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        assert S.wait_port(port, 1) == (True, "")
    ok, why = S.wait_port(port, 0, sleep=lambda s: None)
    assert not ok and f"Timeout when waiting for 127.0.0.1:{port}" in why


def test_manifest_json_is_ansibles_to_nice_json() -> None:
    assert (
        P.to_nice_json({"b": 1, "a": [1, 2]}) == '{\n    "a": [\n        1,\n        2\n    ],\n    "b": 1\n}'
    )
    assert P.canonical({"a": (1, 2)}) == {"a": [1, 2]}
    assert P.os_release(fixture("os_release_hmi.txt"))["ID"] == "debian"
    assert P.dpkg_host_problem(lambda name: "/usr/bin/" + name) is None
    assert "not a dpkg-based host" in P.dpkg_host_problem(lambda name: None)
