"""ot_backup's store side, the action plugin roles/ot_backup/action_plugins/ot_backup_store.py: its plain
functions (fetch, check and store one host's backup atomically; re-verify a stored one) with a fetch that
copies a real archive, and the action itself run by ansible-playbook on localhost (connection local: the
connection's real fetch_file), check mode, idempotence and a bad argument included."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "roles" / "ot_backup" / "action_plugins"


def _plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "otorch_test_action_ot_backup_store", PLUGINS / "ot_backup_store.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


P = _plugin()
HOST = "nw-hmi-02"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def remote(tmp_path: Path) -> dict[str, Any]:
    """A host's archive as ot_backup_snapshot writes it (a config file and manifest.json) and its manifest."""
    conf = tmp_path / "host" / "etc" / "nwc.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("port=9103\n")
    manifest = {
        "schema": 1,
        "backup_id": "bk-1",
        "host": HOST,
        "packages": {"nwc-hmi-runtime": "1.0.0"},
        "package_status": {"nwc-hmi-runtime": "ii"},
        "config_files": {
            str(conf): {"checksum": _sha(conf), "mode": "0644", "pw_name": "root", "gr_name": "root"},
            "/etc/missing.conf": None,
        },
        "services": {"nwc-hmi-runtime": "running"},
        "listening_tcp_ports": [22, 9103],
    }
    (tmp_path / "host" / "manifest.json").write_text(json.dumps(manifest))
    archive = tmp_path / "host" / "bk-1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(conf, arcname=str(conf).lstrip("/"))
        tar.add(tmp_path / "host" / "manifest.json", arcname="manifest.json")
    return {"archive": archive, "manifest": manifest, "sha": _sha(archive), "store": tmp_path / "store"}


def _copy_of(src: Path, calls: list[str] | None = None) -> Any:
    def fetch(dest: str) -> None:
        if calls is not None:
            calls.append(dest)
        shutil.copyfile(src, dest)

    return fetch


def _store(remote: dict[str, Any], fetch: Any, check_mode: bool = False, **over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "store_dir": str(remote["store"]),
        "backup_id": "bk-1",
        "host": HOST,
        "manifest": remote["manifest"],
        "remote_archive": str(remote["archive"]),
        "remote_sha": remote["sha"],
        "fetch": fetch,
        "check_mode": check_mode,
    }
    args.update(over)
    return dict(P.store(**args))


def _files(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*")) if store.exists() else []


def _mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o7777)


def test_store_fetches_checks_and_writes_archive_and_manifest_0600_in_a_0700_directory(
    remote: dict[str, Any],
) -> None:
    calls: list[str] = []
    res = _store(remote, _copy_of(remote["archive"], calls))
    assert res["changed"] and len(calls) == 1
    assert [(c["name"], c["ok"]) for c in res["checks"]] == [
        ("archive_created", True),
        ("checksum_verified", True),
        ("archive_readable", True),
    ]
    store = remote["store"]
    assert _files(store) == ["bk-1", f"bk-1/{HOST}.json", f"bk-1/{HOST}.tar.gz"]  # no temporary file left
    assert _mode(store) == _mode(store / "bk-1") == "0o700"
    archive, manifest = store / "bk-1" / f"{HOST}.tar.gz", store / "bk-1" / f"{HOST}.json"
    assert _mode(archive) == _mode(manifest) == "0o600"
    assert archive.read_bytes() == remote["archive"].read_bytes()
    written = json.loads(manifest.read_text())
    assert written == dict(remote["manifest"], archive=f"{HOST}.tar.gz", archive_sha256=remote["sha"])
    assert manifest.read_text() == P.to_nice_json(written)  # the on-disk form the snapshot reads back
    v = res["values"]
    assert (
        v["archive"] == str(archive)
        and v["manifest"] == str(manifest)
        and v["archive_sha256"] == remote["sha"]
    )
    assert v["config_sha256"] == {
        k: (i["checksum"] if i else None) for k, i in remote["manifest"]["config_files"].items()
    }
    assert v["remote_archive"] == str(remote["archive"]) and v["check_mode"] is False
    # a second run finds the host's archive in the store: nothing fetched, nothing written
    again = _store(remote, _copy_of(remote["archive"], calls))
    assert not again["changed"] and len(calls) == 1 and again["checks"] == res["checks"]
    assert P.verify(str(store), "bk-1", HOST)["checks"] == [
        P.check(
            "checksum_verified",
            True,
            remote["sha"],
            remote["sha"],
            "sha256 of the stored archive (value) against the manifest's (threshold)",
        ),
        P.check("archive_readable", True, 0, 0, ""),
    ]


def test_a_fetched_archive_that_fails_a_check_leaves_nothing_in_the_store(remote: dict[str, Any]) -> None:
    bad = remote["archive"].with_name("bad.tar.gz")
    data = bytearray(remote["archive"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    res = _store(remote, _copy_of(bad))
    failed = {c["name"]: c for c in res["checks"] if not c["ok"]}
    assert sorted(failed) == ["archive_readable", "checksum_verified"]
    assert (
        failed["checksum_verified"]["value"] == _sha(bad)
        and failed["checksum_verified"]["threshold"] == remote["sha"]
    )
    assert _files(remote["store"]) == ["bk-1"]  # no archive, no manifest, no temporary file
    # an archive without a backed-up file: its sha256 is the host's, but it is no backup
    thin = remote["archive"].with_name("thin.tar.gz")
    with tarfile.open(thin, "w:gz") as tar:
        tar.add(remote["archive"].with_name("manifest.json"), arcname="manifest.json")
    res = _store(remote, _copy_of(thin), remote_sha=_sha(thin), remote_archive=str(thin))
    readable = res["checks"][2]
    assert not readable["ok"] and readable["detail"].startswith("missing: ") and readable["value"] == 1
    assert _files(remote["store"]) == ["bk-1"]


def test_a_failed_fetch_or_manifest_write_removes_what_the_task_wrote(remote: dict[str, Any]) -> None:
    def broken(dest: str) -> None:
        Path(dest).write_bytes(b"half an archive")
        raise OSError("connection lost")

    with pytest.raises(OSError, match="connection lost"):
        _store(remote, broken)
    assert _files(remote["store"]) == ["bk-1"]
    # the manifest cannot be written (its path is a directory): the archive moved into place goes too
    (remote["store"] / "bk-1" / f"{HOST}.json").mkdir()
    with pytest.raises(OSError):
        _store(remote, _copy_of(remote["archive"]))
    assert _files(remote["store"]) == ["bk-1", f"bk-1/{HOST}.json"]


def test_an_existing_store_archive_of_another_sha_is_replaced_and_a_wide_directory_narrowed(
    remote: dict[str, Any],
) -> None:
    directory = remote["store"] / "bk-1"
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    (directory / f"{HOST}.tar.gz").write_bytes(b"an older, killed fetch")
    res = _store(remote, _copy_of(remote["archive"]))
    assert res["changed"] and all(c["ok"] for c in res["checks"]) and _mode(directory) == "0o700"
    assert (directory / f"{HOST}.tar.gz").read_bytes() == remote["archive"].read_bytes()


def test_check_mode_writes_nothing_and_says_what_would_change(remote: dict[str, Any]) -> None:
    def never(dest: str) -> None:
        raise AssertionError("check mode fetched")

    res = _store(remote, never, check_mode=True, remote_sha=None)  # no archive on the host yet
    assert res["changed"] and all(c["ok"] for c in res["checks"]) and res["values"]["check_mode"] is True
    assert res["checks"][0]["detail"] == "check mode: not created" and not remote["store"].exists()
    _store(remote, _copy_of(remote["archive"]))
    stored = _store(remote, never, check_mode=True)
    assert not stored["changed"] and stored["values"]["archive_sha256"] == remote["sha"]


def test_verify_reports_a_corrupted_or_missing_backup(remote: dict[str, Any]) -> None:
    _store(remote, _copy_of(remote["archive"]))
    archive = remote["store"] / "bk-1" / f"{HOST}.tar.gz"
    data = bytearray(archive.read_bytes())
    data[40] ^= 0xFF
    archive.write_bytes(bytes(data))
    bad = P.verify(str(remote["store"]), "bk-1", HOST)
    assert [(c["name"], c["ok"]) for c in bad["checks"]] == [
        ("checksum_verified", False),
        ("archive_readable", False),
    ]
    assert (
        bad["values"]["verify_only"]
        and bad["values"]["archive_sha256"] == _sha(archive)
        and not bad["changed"]
    )
    missing = P.verify(str(remote["store"]), "nope", HOST)
    assert [(c["name"], c["ok"]) for c in missing["checks"]] == [("backup_present", False)]
    assert missing["values"] == {"verify_only": True}


def test_the_action_through_ansible_playbook_on_localhost(remote: dict[str, Any], tmp_path: Path) -> None:
    """The real action plugin under ansible-playbook with the local connection (its fetch_file)."""
    args = {
        "store_dir": str(remote["store"]),
        "backup_id": "bk-1",
        "host": HOST,
        "manifest": remote["manifest"],
        "remote_archive": str(remote["archive"]),
        "remote_sha256": remote["sha"],
    }
    tasks = [
        {"name": "dry", "ot_backup_store": args, "check_mode": True, "register": "dry"},
        {"name": "store", "ot_backup_store": args, "register": "stored"},
        {"name": "again", "ot_backup_store": args, "register": "again"},
        {
            "name": "verify",
            "ot_backup_store": {"mode": "verify", **{k: args[k] for k in ("store_dir", "backup_id", "host")}},
            "register": "verified",
        },
        {
            "name": "wrong sha",
            "ot_backup_store": dict(args, backup_id="bk-2", remote_sha256="0" * 64),
            "register": "wrong",
        },
        {
            "name": "bad args",
            "ot_backup_store": dict(args, store_dir="relative"),
            "register": "rel",
            "ignore_errors": True,
        },
        {
            "name": "no host",
            "ot_backup_store": {k: v for k, v in args.items() if k != "host"},
            "register": "nohost",
            "ignore_errors": True,
        },
        {
            "name": "results",
            "ansible.builtin.set_stats": {
                "data": {
                    "r": "{{ {'dry': dry, 'stored': stored, "
                    "'again': again, 'verified': verified, 'wrong': wrong, 'rel': rel, 'nohost': nohost} }}"
                }
            },
        },
    ]
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = {
        **os.environ,
        "ANSIBLE_ACTION_PLUGINS": str(PLUGINS),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_SHOW_CUSTOM_STATS": "true",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            "localhost,",
            str(tmp_path / "play.yml"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r = json.loads(done.stdout)["global_custom_stats"]["r"]
    assert (
        r["dry"]["changed"] and r["dry"]["values"]["check_mode"] and all(c["ok"] for c in r["dry"]["checks"])
    )
    assert r["stored"]["changed"] and all(c["ok"] for c in r["stored"]["checks"])
    assert not r["again"]["changed"] and not r["verified"]["changed"]
    assert all(c["ok"] for c in r["verified"]["checks"]) and r["verified"]["values"]["verify_only"]
    assert [(c["name"], c["ok"]) for c in r["wrong"]["checks"]] == [
        ("archive_created", True),
        ("checksum_verified", False),
        ("archive_readable", True),
    ]
    assert _files(remote["store"]) == ["bk-1", "bk-1/nw-hmi-02.json", "bk-1/nw-hmi-02.tar.gz", "bk-2"]
    assert r["rel"]["failed"] and "store_dir must be an absolute path" in r["rel"]["msg"]
    assert r["nohost"]["failed"] and "host" in r["nohost"]["msg"]
