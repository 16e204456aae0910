#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_backup_store
short_description: Verify a fetched backup archive in the controller's backup store and record its manifest
description:
  - Runs on the controller (C(delegate_to: localhost)).
  - O(mode=store) (after the fetch) hashes O(archive), compares it with O(remote_sha256) (the host's), reads the
    tar stream and checks that every backed-up file and manifest.json are in it, and writes O(manifest_path)
    (the manifest plus C(archive) and C(archive_sha256)), unless in check mode.
  - O(mode=verify) re-verifies C(<store_dir>/<backup_id>/<host>.tar.gz) against C(<host>.json) (sha256 and a
    readable tar stream) and touches nothing.
options:
  mode: {type: str, choices: [store, verify], default: store, description: What to do.}
  archive: {type: path, description: "The fetched archive (mode=store)."}
  manifest_path: {type: path, description: "Where the store's manifest is written (mode=store)."}
  manifest: {type: dict, description: "The manifest ot_backup_snapshot recorded (mode=store)."}
  remote_archive: {type: str, default: "", description: "The archive's path on the host (mode=store)."}
  remote_sha256: {type: str, description: "The archive's sha256 on the host (mode=store)."}
  store_dir: {type: path, description: "The backup store (mode=verify)."}
  backup_id: {type: str, description: "The backup to verify (mode=verify)."}
  host: {type: str, description: "The host whose backup is verified (mode=verify)."}
author: otorchestrator maintainers
"""

RETURN = r"""
checks: {description: The contract checks of this step., type: list, returned: always}
values: {description: The values the role reports (archive, manifest, sha256s, baseline)., type: dict, returned: always}
"""

import gzip
import json
import os
import tarfile
import zlib

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import check, sha256_file, to_nice_json, write_if_changed


def members(archive):
    """(member names, None) of a tar.gz, or (names read so far, why) when the stream is not readable."""
    names = []
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


def expected_members(manifest):
    return [path.lstrip("/") for path, info in manifest["config_files"].items() if info] + ["manifest.json"]


def store_checks(manifest, remote_archive, remote_sha, local_sha, names, why, check_mode):
    expected = expected_members(manifest)
    missing = [m for m in expected if m not in names]
    return [
        check("archive_created", remote_sha is not None or check_mode, remote_archive, None,
              "check mode: not created" if check_mode else ""),
        check("checksum_verified", check_mode or (remote_sha is not None and remote_sha == local_sha), local_sha,
              remote_sha, "sha256 of the fetched archive (value) against the host's (threshold)"),
        check("archive_readable", check_mode or (why is None and local_sha is not None and not missing), len(names),
              len(expected), ("missing: " + ", ".join(missing)) if missing else ""),
    ]


def store_values(manifest, archive, manifest_path, local_sha, remote_archive, check_mode):
    files = manifest["config_files"]
    return {
        "archive": archive,
        "manifest": manifest_path,
        "archive_sha256": local_sha,
        "remote_archive": remote_archive,
        "config_files": list(files),
        "config_sha256": dict((path, info["checksum"] if info else None) for path, info in files.items()),
        "services": manifest["services"],
        "listening_tcp_ports": manifest["listening_tcp_ports"],
        "check_mode": check_mode,
    }


def store(module):
    p = module.params
    manifest, archive = p["manifest"], p["archive"]
    local_sha = sha256_file(archive) if os.path.isfile(archive) else None
    names, why = members(archive) if local_sha else ([], "no archive")
    changed = False
    if not module.check_mode:
        stored = dict(manifest, archive=os.path.basename(archive), archive_sha256=p["remote_sha256"])
        changed = write_if_changed(p["manifest_path"], to_nice_json(stored))
    module.exit_json(
        changed=changed,
        checks=store_checks(manifest, p["remote_archive"], p["remote_sha256"], local_sha, names, why,
                            module.check_mode),
        values=store_values(manifest, archive, p["manifest_path"], local_sha, p["remote_archive"], module.check_mode),
    )


def verify(module):
    p = module.params
    base = os.path.join(p["store_dir"], p["backup_id"], p["host"])
    archive = base + ".tar.gz"
    values = {"verify_only": True, "archive": archive}
    try:
        with open(base + ".json") as f:
            manifest = json.load(f)
        want = manifest["archive_sha256"]
    except (IOError, OSError, ValueError, KeyError, TypeError) as exc:
        module.exit_json(changed=False, values={"verify_only": True}, checks=[
            check("backup_present", False, "read the manifest " + base + ".json", None, str(exc)[:300])])
    local_sha = sha256_file(archive) if os.path.isfile(archive) else None
    names, why = members(archive) if local_sha else ([], "no archive " + archive)
    values["archive_sha256"] = local_sha
    module.exit_json(changed=False, values=values, checks=[
        check("checksum_verified", local_sha is not None and local_sha == want, local_sha, want,
              "sha256 of the stored archive (value) against the manifest's (threshold)"),
        check("archive_readable", why is None, 0 if why is None else 2, 0, (why or "")[:200]),
    ])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=["store", "verify"], default="store"),
            archive=dict(type="path"),
            manifest_path=dict(type="path"),
            manifest=dict(type="dict"),
            remote_archive=dict(type="str", default=""),
            remote_sha256=dict(type="str"),
            store_dir=dict(type="path"),
            backup_id=dict(type="str"),
            host=dict(type="str"),
        ),
        required_if=[("mode", "store", ("archive", "manifest_path", "manifest")),
                     ("mode", "verify", ("store_dir", "backup_id", "host"))],
        supports_check_mode=True,
    )
    (store if module.params["mode"] == "store" else verify)(module)


if __name__ == "__main__":
    main()
