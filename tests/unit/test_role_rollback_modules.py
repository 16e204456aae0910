"""ot_rollback's modules in-process: ot_rollback_source (the controller: the stored backup verified and
extracted into a fresh directory) and ot_rollback_state (the host: what to restore, then the baseline
checks), the host's commands answered with outputs recorded on the lab's nw-gw-01 before (nwc-gateway 1.1.0,
broken) and after its rollback, and the manifest of that backup (tests/fixtures/role_probes/): the checks,
their order, values and details as the role's task chain recorded them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from role_modules import fixture, module, probe, run_module, services

S = module("ot_rollback", "ot_rollback_state")
SRC = module("ot_rollback", "ot_rollback_source")
P = probe()
CONF = "/etc/nwc/nwc-gateway.conf"


def manifest(**over: Any) -> dict[str, Any]:
    m: dict[str, Any] = json.loads(fixture("rollback_manifest_gw.json"))
    m.update(over)
    return m


def gateway_patch() -> dict[str, Any]:
    return {
        "package": "nwc-gateway",
        "target_version": "1.1.0",
        "services": ["nwc-gateway"],
        "ports": [9104],
        "health_command": "/usr/bin/nwc-gateway-health",
    }


class Host:
    """nw-gw-01 as recorded: `broken` (1.1.0 installed, service down) or rolled back (1.0.0, running)."""

    def __init__(self, broken: bool) -> None:
        tag = "" if broken else "_rolled_back"
        self.dpkg = fixture(f"dpkg_query_gw{tag}.txt")
        self.services = services().parse_sysv_status_all(fixture(f"service_status_all_gw{tag}.txt"))
        self.health = fixture(f"health_gw{tag}.txt").split("--- stderr\n")
        self.health_rc = 1 if broken else 0
        self.ss = fixture("ss_listening_gw.txt")
        self.conf_sha: str | None = hashlib.sha256(
            fixture("nwc_gateway_conf_baseline.txt").encode()
        ).hexdigest()
        self.ports_up = not broken
        self.calls: list[list[str]] = []

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:2] == ["dpkg-query", "-W"]:
            return 0, self.dpkg, ""
        if argv == ["ss", "-H", "-l", "-n", "-t"]:
            return 0, self.ss, ""
        if argv[:3] == ["timeout", "15", "/usr/bin/nwc-gateway-health"]:
            return self.health_rc, self.health[0], self.health[1]
        raise AssertionError(f"unexpected command {argv}")

    def baseline(self, m: dict[str, Any], check_mode: bool = False, **kw: Any) -> tuple[list, dict, dict]:
        return S.baseline(  # type: ignore[no-any-return]
            m,
            [gateway_patch()],
            self.run,
            self.run,
            lambda names: {n: self.services.get(n, "absent") for n in names},
            check_mode,
            wait=lambda port, timeout: (self.ports_up or port == 22, ""),
            sha=lambda path: self.conf_sha if path == CONF else None,
            **kw,
        )


def rows(checks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["name"], c["ok"], c["value"], c["threshold"]) for c in checks]


def test_plan_restores_the_broken_gateway_and_nothing_once_rolled_back() -> None:
    m = manifest()
    broken = S.dpkg_state(Host(True).run, list(m["packages"]))
    assert S.plan(m["packages"], broken) == ([{"key": "nwc-gateway", "value": "1.0.0"}], [])
    back = S.dpkg_state(Host(False).run, list(m["packages"]))
    assert S.plan(m["packages"], back) == ([], [])  # the rerun restores nothing (idempotent)


def test_plan_removes_what_was_not_installed_and_restores_a_half_configured_package() -> None:
    packages = {"nwc-gateway": "1.0.0", "openssh-server": None, "nosuch": None}
    state = P.parse_dpkg("nwc-gateway\t1.0.0\tiF \nopenssh-server\t1:9.2p1-2+deb12u10\tii \n")
    restore, remove = S.plan(packages, state)
    assert restore == [{"key": "nwc-gateway", "value": "1.0.0"}]  # 1.0.0 but not ii
    assert remove == [{"key": "openssh-server", "value": None}]


def test_the_rolled_back_gateway_passes_every_baseline_check_in_the_roles_order() -> None:
    host = Host(False)
    checks, versions, values = host.baseline(manifest())
    assert [(c["name"], c["ok"], c["value"], c["threshold"], c["detail"]) for c in checks] == [
        ("version:nwc-gateway", True, "1.0.0 (ii)", "1.0.0 (ii)", ""),
        (f"config:{CONF}", True, host.conf_sha, host.conf_sha, S.CONFIG_DETAIL),
        ("port_listening:22", True, "listening", "listening", ""),
        ("port_listening:9104", True, "listening", "listening", ""),
        ("service_running:nwc-gateway", True, "running", "running", ""),
        ("health:nwc-gateway", True, 0, 0, host.health[0].strip()),
        ("no_new_listeners", True, [], [], S.NEW_LISTENERS_DETAIL),
    ]
    assert versions == {"nwc-gateway": "1.0.0"} and values == {"listening_tcp_ports": [22, 9104]}
    assert host.calls[0][3:] == ["nwc-gateway"]


def test_the_broken_gateway_fails_and_check_mode_passes_all_but_new_listeners() -> None:
    host = Host(True)
    host.conf_sha = "0" * 64  # drifted
    real, versions, _ = host.baseline(manifest())
    assert [c["name"] for c in real if not c["ok"]] == [
        "version:nwc-gateway",
        f"config:{CONF}",
        "port_listening:9104",
        "service_running:nwc-gateway",
        "health:nwc-gateway",
    ]
    assert rows(real)[0] == ("version:nwc-gateway", False, "1.1.0 (ii)", "1.0.0 (ii)")
    assert real[2]["detail"] == "" and real[3]["detail"] == "Timeout when waiting for 127.0.0.1:9104"
    assert versions == {"nwc-gateway": "1.1.0"}
    sim, _, _ = host.baseline(manifest(), check_mode=True)
    assert all(c["ok"] for c in sim) and sim[0]["detail"] == "check mode: not restored"
    assert sim[3]["value"] == "closed" and sim[3]["detail"] == "check mode: not waited for"


def test_a_package_absent_at_backup_time_must_be_absent_and_new_listeners_fail_unless_allowed() -> None:
    host = Host(False)
    host.ss = fixture("ss_listening_hmi.txt")  # 22, 9103, 9106 listening; the backup had 22 and 9104
    m = manifest(packages={"nwc-gateway": "1.0.0", "nosuch": None})
    checks, versions, values = host.baseline(m)
    assert ("version:nosuch", True, "None (not-installed)", "None (not-installed)") in rows(checks)
    assert versions == {"nwc-gateway": "1.0.0", "nosuch": None}
    assert rows(checks)[-1] == ("no_new_listeners", False, [9103, 9106], [])
    assert values == {"listening_tcp_ports": [22, 9103, 9106]}
    allowed, _, _ = host.baseline(m, check_new_listeners=False)
    assert allowed[-1]["ok"] and allowed[-1]["value"] == [9103, 9106]


def test_a_probe_that_fails_ends_the_checks_with_baseline_probe_naming_the_step() -> None:
    host = Host(False)
    checks, versions, _ = S.baseline(
        manifest(), [], lambda argv: (2, "", "database locked"), host.run, lambda n: {}, False
    )
    assert rows(checks) == [("baseline_probe", False, "Read the recorded packages' dpkg state", None)]
    assert "rc=2" in checks[0]["detail"] and versions == {}
    host.ss = ""

    def no_ss(argv: list[str]) -> tuple[int, str, str]:
        return (1, "", "ss: not found") if argv[0] == "ss" else host.run(argv)

    later, _, values = S.baseline(
        manifest(),
        [],
        no_ss,
        no_ss,
        lambda n: {x: "running" for x in n},
        False,
        wait=lambda p, t: (True, ""),
        sha=lambda p: host.conf_sha,
    )
    assert [c["name"] for c in later][-2:] == ["service_running:nwc-gateway", "baseline_probe"]
    assert later[-1]["value"] == "Read the listening TCP ports after the rollback" and values == {}


def test_a_non_dpkg_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    out = run_module(S, {"mode": "plan", "manifest": manifest()}, monkeypatch)
    assert out["failed"] and [c["name"] for c in out["checks"]] == ["os_supported"]


# --- ot_rollback_source (the controller) -------------------------------------------------------------------


def store(tmp_path: Path, conf: bytes | None = None, **over: Any) -> dict[str, Any]:
    """A backup of nw-gw-01 in a store under tmp_path as ot_backup writes it: <id>/<host>.tar.gz and .json."""
    conf = fixture("nwc_gateway_conf_baseline.txt").encode() if conf is None else conf
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(CONF.lstrip("/"))
        info.size = len(conf)
        tar.addfile(info, io.BytesIO(conf))
    (tmp_path / "store" / "bk-1").mkdir(parents=True)
    base = tmp_path / "store" / "bk-1" / "nw-gw-01"
    base.with_suffix(".tar.gz").write_bytes(buf.getvalue())
    m = manifest(archive_sha256=hashlib.sha256(buf.getvalue()).hexdigest(), **over)
    Path(str(base) + ".json").write_text(json.dumps(m))
    (tmp_path / "tmp").mkdir()
    return {
        "store_dir": str(tmp_path / "store"),
        "backup_id": "bk-1",
        "host": "nw-gw-01",
        "tmp_parent": str(tmp_path / "tmp"),
    }


def source(args: dict[str, Any], monkeypatch: pytest.MonkeyPatch, check_mode: bool = False) -> dict[str, Any]:
    return run_module(SRC, args, monkeypatch, check_mode=check_mode)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_verified_backup_is_extracted_into_a_fresh_private_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check_mode: bool
) -> None:
    args = store(tmp_path)
    out = source(args, monkeypatch, check_mode)
    assert not out.get("failed") and out["changed"] is False
    sha = out["manifest"]["archive_sha256"]
    assert [(c["name"], c["ok"], c["value"], c["threshold"]) for c in out["checks"]] == [
        ("backup_verified", True, sha, sha),
        ("backup_extracted", True, [], []),
    ]
    tmp = Path(out["tmp"])
    assert tmp.parent == tmp_path / "tmp" and tmp.name.startswith("otorch-rollback-nw-gw-01-")
    assert oct(tmp.stat().st_mode & 0o777) == "0o700"
    assert (Path(out["files_dir"]) / CONF.lstrip("/")).read_text() == fixture("nwc_gateway_conf_baseline.txt")
    assert out["manifest"]["packages"] == {"nwc-gateway": "1.0.0"}
    assert source(args, monkeypatch)["tmp"] != out["tmp"]  # never reused


def test_a_corrupted_archive_is_refused_and_its_directory_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = store(tmp_path)
    archive = tmp_path / "store" / "bk-1" / "nw-gw-01.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    out = source(args, monkeypatch)
    assert out["failed"] and out["step"] == "Refuse to restore from an unverified backup"
    assert out["msg"] == "backup bk-1 of nw-gw-01 does not verify"
    assert [(c["name"], c["ok"]) for c in out["checks"]] == [("backup_verified", False)]
    assert out["manifest"]["packages"] == {"nwc-gateway": "1.0.0"}  # the baseline is still checked
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_archive_whose_files_differ_from_the_manifest_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = source(store(tmp_path, conf=b"port = 1\n"), monkeypatch)
    assert out["failed"] and out["step"] == "Refuse to restore files that do not match the backup's manifest"
    assert out["checks"][1] == SRC.check("backup_extracted", False, [CONF], [], SRC.EXTRACTED_DETAIL)
    assert out["msg"] == f"extracted files differ from backup bk-1: {CONF}"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_bad_inputs_and_a_missing_manifest_fail_before_any_directory_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = store(tmp_path)
    for bad in ({"store_dir": "relative/store"}, {"store_dir": ""}, {"backup_id": "../x"}, {"backup_id": ""}):
        out = source(dict(args, **bad), monkeypatch)
        assert out["failed"] and out["step"] == "Check the inputs" and out["checks"] == [], bad
        assert "manifest" not in out
    missing = source(dict(args, backup_id="bk-2"), monkeypatch)
    assert missing["failed"] and missing["step"] == "Read the backup's manifest from the store"
    assert "bk-2/nw-gw-01.json" in missing["msg"]
    os.remove(tmp_path / "store" / "bk-1" / "nw-gw-01.tar.gz")
    gone = source(args, monkeypatch)
    assert gone["failed"] and gone["step"] == "Copy the stored archive into the extraction directory"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_archive_tar_cannot_read_fails_at_the_extraction_with_tars_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = store(tmp_path)
    base = tmp_path / "store" / "bk-1" / "nw-gw-01"
    garbage = b"not a gzip stream\n"
    base.with_suffix(".tar.gz").write_bytes(garbage)  # the manifest says these bytes, so they verify
    m = json.loads(Path(str(base) + ".json").read_text())
    m["archive_sha256"] = hashlib.sha256(garbage).hexdigest()
    Path(str(base) + ".json").write_text(json.dumps(m))
    out = source(args, monkeypatch)
    assert out["failed"] and out["step"] == "Extract the verified archive" and out["rc"] != 0
    assert [(c["name"], c["ok"]) for c in out["checks"]] == [("backup_verified", True)]
    assert "gzip" in out["stderr"]
    assert list((tmp_path / "tmp").iterdir()) == []
