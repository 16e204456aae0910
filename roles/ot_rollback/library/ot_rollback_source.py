#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_rollback_source
short_description: Verify a stored backup and extract it into a fresh private directory on the controller
description:
  - Runs on the controller (C(delegate_to: localhost)).
  - Checks the inputs, reads C(<store_dir>/<backup_id>/<host>.json), creates a fresh private temporary directory
    (never the store, never reused), copies the archive there, hashes the copy against the manifest's
    C(archive_sha256) (check C(backup_verified)), extracts it (C(tar --no-same-owner)) and hashes every extracted
    config file against its sha256 in the manifest (check C(backup_extracted)): the bytes that are hashed are the
    bytes that are extracted.
  - A failed step fails the module with C(step) (what failed, worded as the role's task chain named it), the
    checks so far and, once read, the C(manifest); the temporary directory is then already removed. On success
    the caller removes C(tmp).
  - Writes only its temporary directory, also in check mode (run it with C(check_mode: false)).
options:
  store_dir: {type: str, required: true, description: Absolute controller path of the backup store.}
  backup_id: {type: str, required: true, description: The backup to restore.}
  host: {type: str, required: true, description: The host whose backup it is (inventory_hostname).}
  tmp_parent: {type: path, description: Where the temporary directory is created (default the system's).}
author: otorchestrator maintainers
"""

RETURN = r"""
checks: {description: backup_verified then backup_extracted (as far as they got)., type: list, returned: always}
manifest: {description: The store's manifest of the backup., type: dict, returned: once read}
tmp: {description: The temporary directory (remove it when done)., type: str, returned: success}
files_dir: {description: Where the config files were extracted (tmp/files)., type: str, returned: success}
step: {description: The step that failed., type: str, returned: failure}
"""

import json
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import check, sha256_file

BACKUP_ID = re.compile(r"^[A-Za-z0-9._-]+$")
VERIFIED_DETAIL = "sha256 of the stored archive against the manifest's; a backup that does not verify is not restored"
EXTRACTED_DETAIL = "config files extracted from the verified archive that are missing or differ from the manifest"


class StepFailed(Exception):
    def __init__(self, step, msg, **result):
        Exception.__init__(self, msg)
        self.step, self.msg, self.result = step, msg, result


def inputs_problem(store_dir, backup_id):
    if not (os.path.isabs(store_dir or "") and BACKUP_ID.match(backup_id or "")):
        return "ot_rollback_store_dir (absolute) and ot_rollback_backup_id are required"
    return None


def member_of(path):
    """The archive member of an absolute config path (its leading slash dropped, as the role's regex did)."""
    return path[1:] if path.startswith("/") else path


def restorable(manifest):
    """[(path, info)] of the config files that existed at backup time (the ones the archive holds)."""
    return [(path, info) for path, info in manifest["config_files"].items() if info]


def differing_files(manifest, files_dir, sha=sha256_file):
    """The restorable config files that are missing under ``files_dir`` or differ from the manifest's sha256."""
    bad = []
    for path, info in restorable(manifest):
        extracted = os.path.join(files_dir, member_of(path))
        have = sha(extracted) if os.path.isfile(extracted) else ""
        if have != info["checksum"]:
            bad.append(path)
    return bad


def verified_check(manifest, sha):
    return check("backup_verified", sha is not None and sha == manifest["archive_sha256"], sha,
                 manifest["archive_sha256"], VERIFIED_DETAIL)


def extracted_check(bad):
    return check("backup_extracted", not bad, bad, [], EXTRACTED_DETAIL)


def prepare(p, run, tmp_parent=None):
    """(checks, manifest, tmp) of a backup verified and extracted into a new directory; raises StepFailed (the
    directory, once made, already removed)."""
    problem = inputs_problem(p["store_dir"], p["backup_id"])
    if problem:
        raise StepFailed("Check the inputs", problem, checks=[])
    base = os.path.join(p["store_dir"], p["backup_id"], p["host"])
    try:
        with open(base + ".json") as f:
            manifest = json.load(f)
        if not isinstance(manifest.get("config_files"), dict) or "archive_sha256" not in manifest:
            raise ValueError("no config_files or archive_sha256")
    except (IOError, OSError, ValueError, AttributeError) as exc:
        raise StepFailed("Read the backup's manifest from the store", "could not read %s.json: %s" % (base, exc),
                         checks=[])
    tmp = tempfile.mkdtemp(prefix="otorch-rollback-%s-" % p["host"], dir=tmp_parent)
    try:
        return _verify_and_extract(p, run, base, manifest, tmp)
    except StepFailed as failed:
        shutil.rmtree(tmp, ignore_errors=True)
        failed.result["manifest"] = manifest
        raise


def _verify_and_extract(p, run, base, manifest, tmp):
    archive = os.path.join(tmp, "backup.tar.gz")
    try:
        shutil.copyfile(base + ".tar.gz", archive)
        os.chmod(archive, 0o600)
    except (IOError, OSError) as exc:
        raise StepFailed("Copy the stored archive into the extraction directory", str(exc), checks=[])
    checks = [verified_check(manifest, sha256_file(archive))]
    if not checks[0]["ok"]:
        raise StepFailed("Refuse to restore from an unverified backup",
                         "backup %s of %s does not verify" % (p["backup_id"], p["host"]), checks=checks)
    files_dir = os.path.join(tmp, "files")
    os.mkdir(files_dir, 0o700)
    rc, out, err = run(["tar", "-xzf", archive, "-C", files_dir, "--no-same-owner"])
    if rc != 0:
        raise StepFailed("Extract the verified archive", "non-zero return code", checks=checks, rc=rc,
                         stdout=out, stderr=err)
    bad = differing_files(manifest, files_dir)
    checks.append(extracted_check(bad))
    if bad:
        raise StepFailed("Refuse to restore files that do not match the backup's manifest",
                         "extracted files differ from backup %s: %s" % (p["backup_id"], ", ".join(bad)),
                         checks=checks)
    return checks, manifest, tmp


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store_dir=dict(type="str", required=True),
            backup_id=dict(type="str", required=True),
            host=dict(type="str", required=True),
            tmp_parent=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    try:
        checks, manifest, tmp = prepare(module.params, module.run_command, module.params["tmp_parent"])
    except StepFailed as failed:
        module.fail_json(msg=failed.msg, step=failed.step, **failed.result)
    module.exit_json(changed=False, checks=checks, manifest=manifest, tmp=tmp, files_dir=os.path.join(tmp, "files"))


if __name__ == "__main__":
    main()
