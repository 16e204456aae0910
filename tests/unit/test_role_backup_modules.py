"""ot_backup's module run in-process (roles/ot_backup/library): the snapshot on the host
(one baseline per backup id, archive written aside, check mode writes nothing). The store's side, an action
plugin, is tested in test_role_backup_store.py."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from role_modules import fixture, module, probe, run_module, services

SNAP = module("ot_backup", "ot_backup_snapshot")


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake dpkg host: dpkg-query/service/ss answer with recorded lab outputs; files live under tmp_path."""
    from ansible.module_utils import basic

    answers = {
        "dpkg-query": (1, "nwc-hmi-runtime\t1.0.0\tii \n", "no packages found matching nwc-absent"),
        "service": (0, fixture("service_status_all_hmi.txt"), ""),
        "ss": (0, fixture("ss_listening_hmi.txt"), ""),
    }
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: answers[argv[0]])
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/bin/" + name)
    sysv = services().parse_sysv_status_all(fixture("service_status_all_hmi.txt"))
    monkeypatch.setattr(SNAP, "service_states", lambda run, names: {n: sysv.get(n, "absent") for n in names})
    conf = tmp_path / "etc" / "nwc.conf"
    conf.parent.mkdir()
    conf.write_text("port=9103\n")
    return {
        "backup_id": "bk-1",
        "host": "nw-hmi-02",
        "remote_dir": str(tmp_path / "remote"),
        "store_dir": str(tmp_path / "store"),
        "packages": ["nwc-hmi-runtime", "nwc-absent"],
        "files": [str(conf), str(tmp_path / "etc" / "missing.conf")],
        "services": ["nwc-hmi-runtime", "nosuch"],
        "conf": conf,
    }


def snap(
    host: dict[str, Any], mp: pytest.MonkeyPatch, check_mode: bool = False, **over: Any
) -> dict[str, Any]:
    args = {k: v for k, v in host.items() if k != "conf"}
    return run_module(SNAP, dict(args, **over), mp, check_mode=check_mode)


def test_snapshot_records_the_baseline_and_writes_the_archive(
    host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = snap(host, monkeypatch)
    assert out["changed"] and not out.get("failed")
    m = out["manifest"]
    assert m["packages"] == {"nwc-hmi-runtime": "1.0.0", "nwc-absent": None}
    assert m["package_status"] == {"nwc-hmi-runtime": "ii"}
    assert m["services"] == {"nwc-hmi-runtime": "running", "nosuch": "absent"}
    assert m["listening_tcp_ports"] == [22, 9103, 9106]
    conf = str(host["conf"])
    assert m["config_files"][conf]["mode"] == "0644" or m["config_files"][conf]["mode"].startswith("0")
    assert m["config_files"][host["files"][1]] is None
    assert [c["name"] for c in out["checks"]] == ["versions_recorded", "backup_id_consistent"]
    archive = Path(out["archive"])
    assert archive.name == "bk-1.tar.gz" and not Path(str(archive) + ".partial").exists()
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted([conf.lstrip("/"), "manifest.json"])
        inside = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert inside == m
    assert out["archive_sha256"] == probe().sha256_file(str(archive))


def test_a_rerun_with_the_same_baseline_keeps_the_archive(
    host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = snap(host, monkeypatch)
    again = snap(
        host, monkeypatch, store_manifest=json.dumps(dict(first["manifest"], archive="x", archive_sha256="y"))
    )
    assert not again["changed"] and again["archive_sha256"] == first["archive_sha256"]
    assert again["checks"][1]["ok"] and "kept" in again["checks"][1]["detail"]


def test_a_changed_baseline_under_the_same_id_is_refused_and_nothing_is_written(
    host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = snap(host, monkeypatch)
    before = Path(first["archive"]).read_bytes()
    host["conf"].write_text("port=9999\n")
    out = snap(host, monkeypatch)
    assert out["failed"] and "already holds a different baseline" in out["msg"]
    bad = [c for c in out["checks"] if not c["ok"]]
    assert [c["name"] for c in bad] == ["backup_id_consistent"]
    assert bad[0]["value"] == [f"archive on the host ({first['archive']})"]
    assert Path(first["archive"]).read_bytes() == before
    # the store's manifest alone disagreeing is refused too (the host's archive was removed meanwhile)
    host["conf"].write_text("port=9103\n")
    Path(first["archive"]).unlink()
    other = dict(first["manifest"], listening_tcp_ports=[22])
    refused = snap(host, monkeypatch, store_manifest=other)
    assert refused["failed"] and "manifest in the store" in refused["checks"][1]["value"][0]
    assert not Path(first["archive"]).exists()


def test_check_mode_and_bad_inputs_write_nothing(
    host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = snap(host, monkeypatch, check_mode=True)
    assert out["changed"] and out["archive_sha256"] is None and not Path(host["remote_dir"]).exists()
    assert snap(host, monkeypatch, backup_id="../x")["failed"]
    assert snap(host, monkeypatch, store_dir="relative/store")["failed"]
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    refused = snap(host, monkeypatch)
    assert refused["failed"] and refused["checks"][0]["name"] == "os_supported"
    assert not Path(host["remote_dir"]).exists()
