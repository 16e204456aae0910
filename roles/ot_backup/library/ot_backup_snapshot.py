#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_backup_snapshot
short_description: Record a host's baseline and archive its config files under one backup id (on the host)
description:
  - Records the installed versions of O(packages), the sha256/mode/owner of O(files), the states of O(services) and
    the listening TCP ports: the manifest a rollback restores.
  - One backup id holds ONE baseline. The manifest inside an existing C(<remote_dir>/<backup_id>.tar.gz) and
    O(store_manifest) (the controller's copy, when there is one) are compared with the manifest just recorded; when
    either differs the module fails with the check C(backup_id_consistent) and writes nothing.
  - Otherwise writes C(<remote_dir>/<backup_id>/manifest.json) and, when there is no archive yet, the tar.gz of the
    existing files plus manifest.json (written aside as C(.partial), then moved into place); returns its sha256.
  - Check mode writes nothing.
options:
  backup_id: {type: str, required: true, description: "The backup id ([A-Za-z0-9._-]+)."}
  host: {type: str, required: true, description: The inventory name recorded in the manifest.}
  remote_dir: {type: path, required: true, description: Where the archive is built on the host.}
  packages: {type: list, elements: str, default: [], description: Packages whose versions are recorded.}
  files: {type: list, elements: path, default: [], description: Absolute paths of the files to back up.}
  services: {type: list, elements: str, default: [], description: Services whose states are recorded.}
  store_manifest: {type: raw, description: "The store's manifest of this host and id (dict or JSON text), if any."}
  store_dir: {type: str, required: true, description: "The controller's backup store (absolute; named in the check's detail)."}
author: otorchestrator maintainers
"""

RETURN = r"""
manifest: {description: The recorded baseline., type: dict, returned: always}
archive: {description: Path of the archive on the host., type: str, returned: always}
archive_sha256: {description: sha256 of the archive on the host (null in check mode when none exists)., type: str}
checks: {description: "versions_recorded and backup_id_consistent (contract checks).", type: list, returned: always}
"""

import json
import os
import re
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import (
    ProbeError,
    canonical,
    check,
    dpkg_state,
    file_info,
    host_runs,
    sha256_file,
    to_nice_json,
    write_if_changed,
)
from ansible.module_utils.otorch_services import listening_tcp_ports, service_states

ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
STORE_ONLY_KEYS = ("archive", "archive_sha256")


# the one spec: AnsibleModule's here, and the controller's check on the direct path (ot_common/action_plugins)
ARGUMENT_SPEC = {
    "backup_id": {"type": "str", "required": True},
    "host": {"type": "str", "required": True},
    "remote_dir": {"type": "path", "required": True},
    "packages": {"type": "list", "elements": "str", "default": []},
    "files": {"type": "list", "elements": "path", "default": []},
    "services": {"type": "list", "elements": "str", "default": []},
    "store_manifest": {"type": "raw"},
    "store_dir": {"type": "str", "required": True},
}


def build_manifest(backup_id, host, packages, files, services, state, infos, service_state, ports):
    """The manifest (schema 1): the same keys and values the role's Jinja used to build."""
    return {
        "schema": 1,
        "backup_id": backup_id,
        "host": host,
        "packages": {p: (state[p]["v"] if p in state else None) for p in packages},
        "package_status": {p: row["s"] for p, row in state.items()},
        "config_files": {f: infos.get(f) for f in files},
        "services": {s: service_state.get(s, "absent") for s in services},
        "listening_tcp_ports": ports,
    }


def archived_manifest(archive):
    """The manifest inside an archive as a JSON value, or 'unreadable'."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            return canonical(json.loads(member.read().decode("utf-8"))) if member else "unreadable"
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError):
        return "unreadable"


def stored_manifest(raw):
    """The store's manifest without its store-only keys, or None when there is none."""
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict):
        try:
            raw = json.loads(raw)
        except ValueError:
            return "unreadable"
        if not isinstance(raw, dict):
            return "unreadable"
    return canonical({k: v for k, v in raw.items() if k not in STORE_ONLY_KEYS})


def consistency(want, in_archive, in_store, archive, store_label):
    """The check backup_id_consistent: which existing copies record another baseline."""
    want = canonical(want)
    differ = []
    if in_archive is not None and in_archive != want:
        differ.append("archive on the host (%s)" % archive)
    if in_store is not None and in_store != want:
        differ.append("manifest in the store (%s)" % store_label)
    if differ:
        detail = ("backup id %s already holds a different baseline of this host in: %s; refused (a backup is never "
                  "overwritten): use a new backup id" % (want["backup_id"], ", ".join(differ)))
    else:
        detail = "the existing archive holds this baseline: kept" if in_archive is not None else ""
    return check("backup_id_consistent", not differ, differ, [], detail)


def write_archive(archive, manifest_path, files):
    """tar.gz of the existing ``files`` (member names without the leading /) and manifest.json, via .partial."""
    partial = archive + ".partial"
    with tarfile.open(partial, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=path.lstrip("/"), recursive=False)
        tar.add(manifest_path, arcname="manifest.json", recursive=False)
    os.chmod(partial, 0o600)
    os.rename(partial, archive)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    p = module.params
    run, _run_user = host_runs(module)
    if not ID_PATTERN.match(p["backup_id"]) or not os.path.isabs(p["store_dir"]):
        module.fail_json(msg="ot_backup_store_dir (absolute) and ot_backup_id ([A-Za-z0-9._-]+) are required")
    packages = list(dict.fromkeys(x for x in p["packages"] if x))
    files = list(dict.fromkeys(p["files"]))
    services = list(dict.fromkeys(p["services"]))
    try:
        state = dpkg_state(run, packages)
        infos = dict((f, file_info(f)) for f in files)
        manifest = build_manifest(p["backup_id"], p["host"], packages, files, services, state, infos,
                                  service_states(run, services), listening_tcp_ports(run))
    except (ProbeError, OSError) as exc:
        module.fail_json(msg="recording the baseline failed: %s" % exc)

    archive = os.path.join(p["remote_dir"], p["backup_id"] + ".tar.gz")
    in_archive = archived_manifest(archive) if os.path.exists(archive) else None
    consistent = consistency(manifest, in_archive, stored_manifest(p["store_manifest"]), archive,
                             os.path.join(p["store_dir"], p["backup_id"], p["host"] + ".json"))
    checks = [check("versions_recorded", True, manifest["packages"], None, ""), consistent]
    if not consistent["ok"]:
        module.fail_json(msg=consistent["detail"], checks=checks, manifest=manifest, archive=archive)

    changed = False
    workdir = os.path.join(p["remote_dir"], p["backup_id"])
    if not module.check_mode:
        for d in (p["remote_dir"], workdir):
            if not os.path.isdir(d):
                os.makedirs(d, 0o700)
                changed = True
        manifest_path = os.path.join(workdir, "manifest.json")
        changed |= write_if_changed(manifest_path, to_nice_json(manifest) + "\n", 0o600)
        if in_archive is None:
            write_archive(archive, manifest_path, [f for f in files if manifest["config_files"][f]])
            changed = True
    elif in_archive is None:
        changed = True
    sha = sha256_file(archive) if os.path.exists(archive) else None
    module.exit_json(changed=changed, manifest=manifest, archive=archive, archive_sha256=sha, checks=checks)


if __name__ == "__main__":
    main()
