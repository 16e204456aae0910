# Copyright: otorchestrator maintainers; Apache-2.0
"""ot_backup_store: the backup store's side of ot_backup, an action plugin (it runs in the task's worker
on the controller: no Python is started for it, on the controller or on the host).

mode=store (after ot_backup_snapshot): creates ``<store_dir>/<backup_id>`` (0700), fetches the host's
archive over the task's connection into a temporary file of that directory (as ansible.builtin.fetch does:
the connection's fetch_file, or slurp under become) unless the store already holds an archive of the host's
sha256, checks it (archive_created; checksum_verified against the host's sha256; archive_readable: the whole
gzip stream, and every backed-up file and manifest.json in it) and only when every check passes moves it into
place as ``<host>.tar.gz`` (0600) and writes ``<host>.json`` (the manifest plus archive and archive_sha256,
0600), each through a temporary file and a rename: the store never holds a half-written archive or manifest,
and a failed check or step leaves no file of this task behind. Check mode writes nothing.

mode=verify re-verifies ``<host>.tar.gz`` against ``<host>.json`` (sha256, a readable tar stream) and writes
nothing. Both return ``checks`` (docs/contracts.md section 5) and ``values``.

The checks and the store's writes are the plain functions below (tests/unit/test_role_backup_store.py); the
ActionModule only validates the arguments and hands them the connection's fetch.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "mode": {"type": "str", "choices": ["store", "verify"], "default": "store"},
    "store_dir": {"type": "path", "required": True},
    "backup_id": {"type": "str", "required": True},
    "host": {"type": "str", "required": True},
    "manifest": {"type": "dict"},
    "remote_archive": {"type": "str", "default": ""},
    "remote_sha256": {"type": "str"},
}
REQUIRED_IF = [("mode", "store", ("manifest", "remote_archive"))]

Check = dict[str, Any]


def check(name: str, ok: Any, value: Any = None, threshold: Any = None, detail: str = "") -> Check:
    """One check of the result contract (docs/contracts.md section 5)."""
    return {"name": name, "ok": bool(ok), "value": value, "threshold": threshold, "detail": detail}


def to_nice_json(data: Any) -> str:
    """The bytes Ansible's ``to_nice_json(sort_keys=true)`` writes (the store manifest's on-disk form)."""
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False, separators=(",", ": "))


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def paths(store_dir: str, backup_id: str, host: str) -> tuple[str, str, str]:
    """(directory, archive, manifest) of one host's backup in the store."""
    directory = os.path.join(store_dir, backup_id)
    return directory, os.path.join(directory, host + ".tar.gz"), os.path.join(directory, host + ".json")


def members(archive: str) -> tuple[list[str], str | None]:
    """(member names, None) of a tar.gz, or (names read so far, why) when the stream is not readable."""
    names: list[str] = []
    try:
        with gzip.open(archive, "rb") as stream:  # the whole stream, so its CRC is checked (as tar -tzf does)
            while stream.read(1024 * 1024):
                pass
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                names.append(member.name)
        return names, None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return names, str(exc) or type(exc).__name__


def expected_members(manifest: dict[str, Any]) -> list[str]:
    return [path.lstrip("/") for path, info in manifest["config_files"].items() if info] + ["manifest.json"]


def store_checks(
    manifest: dict[str, Any],
    remote_archive: str,
    remote_sha: str | None,
    local_sha: str | None,
    names: list[str],
    why: str | None,
    check_mode: bool,
) -> list[Check]:
    expected = expected_members(manifest)
    missing = [m for m in expected if m not in names]
    return [
        check(
            "archive_created",
            remote_sha is not None or check_mode,
            remote_archive,
            None,
            "check mode: not created" if check_mode else "",
        ),
        check(
            "checksum_verified",
            check_mode or (remote_sha is not None and remote_sha == local_sha),
            local_sha,
            remote_sha,
            "sha256 of the fetched archive (value) against the host's (threshold)",
        ),
        check(
            "archive_readable",
            check_mode or (why is None and local_sha is not None and not missing),
            len(names),
            len(expected),
            ("missing: " + ", ".join(missing)) if missing else "",
        ),
    ]


def store_values(
    manifest: dict[str, Any],
    archive: str,
    manifest_path: str,
    local_sha: str | None,
    remote_archive: str,
    check_mode: bool,
) -> dict[str, Any]:
    files = manifest["config_files"]
    return {
        "archive": archive,
        "manifest": manifest_path,
        "archive_sha256": local_sha,
        "remote_archive": remote_archive,
        "config_files": list(files),
        "config_sha256": {path: info["checksum"] if info else None for path, info in files.items()},
        "services": manifest["services"],
        "listening_tcp_ports": manifest["listening_tcp_ports"],
        "check_mode": check_mode,
    }


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _make_dirs(directory: str) -> bool:
    """Create ``directory`` and its missing parents 0700 (as ansible.builtin.file state=directory mode=0700
    does), or set an existing one to 0700; True when it changed anything."""
    missing = []
    path = directory
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for path in reversed(missing):
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # the exact mode, whatever the umask
    if os.stat(directory).st_mode & 0o7777 != 0o700:
        os.chmod(directory, 0o700)
        return True
    return bool(missing)


def _write_aside(directory: str, name: str, content: bytes) -> str:
    """A new 0600 file of ``directory`` holding ``content`` (the caller renames it into place)."""
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".partial", dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    return tmp  # mkstemp creates it 0600


def _unlink(path: str | None) -> None:
    if path and os.path.lexists(path):
        os.unlink(path)


def store(
    store_dir: str,
    backup_id: str,
    host: str,
    manifest: dict[str, Any],
    remote_archive: str,
    remote_sha: str | None,
    fetch: Callable[[str], None],
    check_mode: bool,
) -> dict[str, Any]:
    """Fetch (``fetch(dest)`` writes the host's archive to dest), check and store one host's backup; the
    result {changed, checks, values}. Raises what ``fetch`` or the filesystem raise, after removing what it
    wrote."""
    directory, archive, manifest_path = paths(store_dir, backup_id, host)
    stored = to_nice_json(dict(manifest, archive=os.path.basename(archive), archive_sha256=remote_sha))
    have = sha256_file(archive) if os.path.isfile(archive) else None
    if check_mode:
        names, why = members(archive) if have else ([], "no archive")
        mode_ok = os.path.isdir(directory) and os.stat(directory).st_mode & 0o7777 == 0o700
        changed = not mode_ok or have != remote_sha or _read(manifest_path) != stored
        return {
            "changed": changed,
            "checks": store_checks(manifest, remote_archive, remote_sha, have, names, why, True),
            "values": store_values(manifest, archive, manifest_path, have, remote_archive, True),
        }
    changed = _make_dirs(directory)
    aside: list[str] = []  # this task's temporary files, until they are moved into place
    placed = False
    try:
        if remote_sha is not None and have == remote_sha:
            local_sha, (names, why) = have, members(archive)
        else:
            aside.append(_write_aside(directory, host + ".tar.gz", b""))
            fetch(aside[0])
            local_sha = sha256_file(aside[0])
            names, why = members(aside[0])
        checks = store_checks(manifest, remote_archive, remote_sha, local_sha, names, why, False)
        if all(c["ok"] for c in checks):
            if aside:
                os.rename(aside.pop(), archive)
                placed = changed = True
            if _read(manifest_path) != stored:
                aside.append(_write_aside(directory, host + ".json", stored.encode("utf-8")))
                os.rename(aside[-1], manifest_path)
                aside.pop()
                changed = True
    except BaseException:
        if placed:  # the archive this task moved into place has no manifest: remove it too
            _unlink(archive)
        raise
    finally:
        for path in aside:  # a fetched archive that failed a check, a failed fetch, an unplaced manifest
            _unlink(path)
    return {
        "changed": changed,
        "checks": checks,
        "values": store_values(manifest, archive, manifest_path, local_sha, remote_archive, False),
    }


def verify(store_dir: str, backup_id: str, host: str) -> dict[str, Any]:
    """Re-verify a stored backup (touches nothing): {changed, checks, values}."""
    _directory, archive, manifest_path = paths(store_dir, backup_id, host)
    values: dict[str, Any] = {"verify_only": True, "archive": archive}
    try:
        with open(manifest_path) as f:
            want = json.load(f)["archive_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {
            "changed": False,
            "values": {"verify_only": True},
            "checks": [
                check("backup_present", False, "read the manifest " + manifest_path, None, str(exc)[:300])
            ],
        }
    local_sha = sha256_file(archive) if os.path.isfile(archive) else None
    _names, why = members(archive) if local_sha else ([], "no archive " + archive)
    values["archive_sha256"] = local_sha
    return {
        "changed": False,
        "values": values,
        "checks": [
            check(
                "checksum_verified",
                local_sha is not None and local_sha == want,
                local_sha,
                want,
                "sha256 of the stored archive (value) against the manifest's (threshold)",
            ),
            check("archive_readable", why is None, 0 if why is None else 2, 0, (why or "")[:200]),
        ],
    }


class ActionModule(ActionBase):
    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validated, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
        if not os.path.isabs(args["store_dir"]):
            raise AnsibleActionFail(f"store_dir must be an absolute path, got {args['store_dir']!r}")
        if args["mode"] == "verify":
            result.update(verify(args["store_dir"], args["backup_id"], args["host"]))
            return result
        try:
            result.update(
                store(
                    args["store_dir"],
                    args["backup_id"],
                    args["host"],
                    args["manifest"],
                    args["remote_archive"],
                    args["remote_sha256"],
                    lambda dest: self._fetch(args["remote_archive"], dest, task_vars or {}),
                    bool(self._task.check_mode),
                )
            )
        except OSError as exc:  # the store's filesystem (what the task wrote is removed by then)
            raise AnsibleActionFail(f"writing the backup store {args['store_dir']} failed: {exc}") from exc
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)  # slurp's, when it ran
        return result

    def _fetch(self, source: str, dest: str, task_vars: dict[str, Any]) -> None:
        """The host's ``source`` into ``dest``: the connection's fetch_file, or (under become, which a file
        transfer does not get) the slurp module, as ansible.builtin.fetch does."""
        if not self._connection.become:
            self._connection.fetch_file(source, dest)
            return
        slurped = self._execute_module(
            module_name="ansible.legacy.slurp", module_args={"src": source}, task_vars=task_vars
        )
        if slurped.get("failed"):
            raise AnsibleActionFail(f"reading {source} on the host failed: {slurped.get('msg', '')}")
        with open(dest, "wb") as f:
            f.write(base64.b64decode(slurped["content"]))
