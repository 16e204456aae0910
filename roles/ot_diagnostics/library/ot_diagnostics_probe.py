#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_diagnostics_probe
short_description: Every read-only pre-patch check of a host, in one module
description:
  - "Returns the checks (name, ok, value, threshold, detail; contracts.md section 5), in this order:
    C(disk_free:<path>) per path of the patches' required_free_mb (summed over the patches; a patch without one gets
    O(default_required_free_mb) plus O(default_install_root_free_mb) on each mount holding its installed files),
    C(memory_available_mb), C(service_running:<svc>) for the services of installed patched packages and
    O(extra_services), C(dpkg_lock_free), C(repo_signature) and C(target_available:<package>) (when O(check_repo)),
    C(reboot_not_pending)."
  - A probe that cannot read the host ends the list with a failed check C(diagnostics_probe) naming it.
  - Never changes the host; runs in check mode too (the repository refresh uses a throw-away lists directory).
options:
  patches: {type: list, elements: dict, default: [], description: Catalog entries planned for this host.}
  default_required_free_mb: {type: dict, required: true, description: "Free MiB per path for a patch without required_free_mb."}
  default_install_root_free_mb: {type: int, required: true, description: Free MiB on each install root of such a patch.}
  min_memory_mb: {type: int, required: true, description: Minimum MemAvailable in MiB.}
  check_repo: {type: bool, required: true, description: Refresh the patch repository's source and read the offered versions.}
  repo_sourcelist: {type: str, required: true, description: "The patch repository's apt source list (relative to /etc/apt, or absolute)."}
  fail_on_pending_reboot: {type: bool, required: true, description: A pending reboot fails its check.}
  lock_files: {type: list, elements: path, required: true, description: dpkg/apt lock files that must not be held.}
  extra_services: {type: list, elements: str, default: [], description: Services that must run besides the patches'.}
author: otorchestrator maintainers
"""

RETURN = r"""
checks: {description: The checks in the order above., type: list, returned: always}
values: {description: "disk_threshold_defaulted, install_roots, installed ({package: version}), repo_available.", type: dict, returned: always}
"""

import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import (
    ProbeError,
    check,
    dpkg_rows,
    excerpt,
    existing_parent,
    host_runs,
    mount_of,
    package_manager_pids,
    parse_dpkg_files,
    parse_locked_inodes,
    parse_meminfo_available_mb,
    parse_mountinfo,
    read_text,
)
from ansible.module_utils.otorch_services import service_states

SIG_ERRORS = re.compile(r"NO_PUBKEY|BADSIG|EXPKEYSIG|REVKEYSIG|is not signed|GPG error|signature|Release file", re.I)
REBOOT_FLAG = "/var/run/reboot-required"


# --- disk -------------------------------------------------------------------------------------------------


# the one spec: AnsibleModule's here, and the controller's check on the direct path (ot_common/action_plugins)
ARGUMENT_SPEC = {
    "patches": {"type": "list", "elements": "dict", "default": []},
    "default_required_free_mb": {"type": "dict", "required": True},
    "default_install_root_free_mb": {"type": "int", "required": True},
    "min_memory_mb": {"type": "int", "required": True},
    "check_repo": {"type": "bool", "required": True},
    "repo_sourcelist": {"type": "str", "required": True},
    "fail_on_pending_reboot": {"type": "bool", "required": True},
    "lock_files": {"type": "list", "elements": "path", "required": True},
    "extra_services": {"type": "list", "elements": "str", "default": []},
}


def disk_needs(patches, default_need):
    """([(path, MiB)] in the order the catalog names them, [packages without a declared need])."""
    needs, defaulted = [], []
    for patch in patches:
        given = patch.get("required_free_mb") or {}
        if not given:
            defaulted.append(patch.get("package") or "(no package)")
        needs.extend((given or default_need).items())
    return needs, defaulted


def install_roots(run, packages, mounts, isfile=os.path.isfile, realpath=os.path.realpath):
    """The mount points holding the installed files of ``packages`` (per package sorted; first seen first)."""
    roots = []
    for package in packages:
        rc, out, err = run(["dpkg-query", "-L", package])
        files = [f for f in parse_dpkg_files(out if rc == 0 else "") if isfile(f)]
        for point in sorted(set(mount_of(realpath(f), mounts) for f in files)):
            if point not in roots:
                roots.append(point)
    return roots


def disk_checks(needs, root_paths, defaulted, default_paths, mounts, free_of, exists=os.path.exists):
    """One disk_free check per path (first seen first), its threshold the sum of its needs."""
    total = {}
    for path, mib in needs + [(r, root_paths[r]) for r in root_paths]:
        total[path] = total.get(path, 0) + int(mib)
    note = "; default threshold: no required_free_mb in the catalog entry of " + ", ".join(defaulted)
    checks = []
    for path, need in total.items():
        where = existing_parent(path, exists)
        free = free_of(where)
        detail = "MiB free on %s (needs %s MiB%s)" % (mount_of(os.path.realpath(where), mounts), need,
                                                     note if path in default_paths else "")
        checks.append(check("disk_free:" + path, free >= need, free, need, detail))
    return checks


def df_free_mb(path, statvfs=os.statvfs):
    """MiB available as ``df -P -m`` prints it (rounded up)."""
    st = statvfs(path)
    return -(-(st.f_bavail * st.f_frsize) // (1024 * 1024))


# --- services, locks, repository, reboot -----------------------------------------------------------------


def service_checks(patches, rows, extra, states_of):
    installed = [name for name, _v, status in rows if len(status) > 1 and status[1] == "i"]
    names = []
    for patch in patches:
        if "package" in patch and patch["package"] in installed:
            names.extend(patch.get("services") or [])
    names = list(dict.fromkeys(names + list(extra)))
    states = states_of(names)
    return [check("service_running:" + n, states.get(n) == "running", states.get(n, "absent"), "running", "")
            for n in names]


def lock_check(lock_files, locks_text, pids, inode_of=lambda f: os.stat(f).st_ino, exists=os.path.exists):
    locked = parse_locked_inodes(locks_text)
    held = [f for f in lock_files if exists(f) and inode_of(f) in locked]
    processes = ",".join(pids)
    return check("dpkg_lock_free", not held, held, [], ("package manager processes: " + processes) if processes else "")


def parse_madison(stdout):
    """{package: [versions, first seen first]} of what ``apt-cache madison PACKAGE...`` lists."""
    available = {}
    for line in stdout.splitlines():
        fields = line.split("|")
        if len(fields) >= 3:
            available.setdefault(fields[0].strip(), []).append(fields[1].strip())
    return available


def repo_errors(lines):
    """(signature errors, other errors) among apt-get update's output lines."""
    errors = [line for line in lines if line.startswith(("E:", "W:", "Err:")) and SIG_ERRORS.search(line)]
    other = [line for line in lines if line.startswith(("E:", "Err:"))]
    return errors, other


def repo_state(run, sourcelist, packages, exists=os.path.exists, chown=shutil.chown):
    """Refresh ONLY ``sourcelist`` into a throw-away lists directory (a bad signature fails) and read the versions
    of ``packages`` the signed repository offers: {sourcelist, update_rc, signature_ok, errors, available}."""
    tmp = tempfile.mkdtemp(prefix="otorch-diag-")
    try:
        lists = os.path.join(tmp, "lists")
        os.makedirs(os.path.join(lists, "partial"))
        for d in (tmp, lists, os.path.join(lists, "partial")):
            os.chmod(d, 0o755)
        try:
            chown(os.path.join(lists, "partial"), user="_apt")
        except (LookupError, OSError):
            pass
        opts = ["-o", "Dir::Etc::sourcelist=" + sourcelist, "-o", "Dir::Etc::sourceparts=-",
                "-o", "Dir::State::Lists=" + lists, "-o", "Dir::Cache::pkgcache=",
                "-o", "Dir::Cache::srcpkgcache=", "-o", "APT::Get::List-Cleanup=0"]
        path = sourcelist if sourcelist.startswith("/") else os.path.join("/etc/apt", sourcelist)
        rc, out, err = run(["apt-get"] + opts + ["update"])
        errors, other = repo_errors((out + err).splitlines())
        asked = list(dict.fromkeys(packages))
        offered = parse_madison(run(["apt-cache"] + opts + ["madison"] + asked)[1]) if asked else {}
        available = dict((package, offered.get(package, [])) for package in packages)
        return {"sourcelist": path, "update_rc": rc, "errors": (errors or other)[:4], "available": available,
                "signature_ok": rc == 0 and not errors and exists(path)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def repo_checks(repo, patches):
    detail = "%s rc=%s %s" % (repo["sourcelist"], repo["update_rc"], " | ".join(repo["errors"]))
    checks = [check("repo_signature", repo["signature_ok"], "valid" if repo["signature_ok"] else "invalid", "valid",
                    detail[:400])]
    for patch in patches:
        if "package" in patch:
            offered = repo["available"].get(patch["package"], [])
            target = str(patch.get("target_version"))
            checks.append(check("target_available:%s" % patch["package"], target in offered, offered, target,
                                "versions the signed repository offers"))
    return checks


def reboot_check(pending, fail_on_pending):
    return check("reboot_not_pending", not pending or not fail_on_pending, pending, False,
                 REBOOT_FLAG + " exists" if pending else "")


# --- the module -------------------------------------------------------------------------------------------


def diagnose(p, run, states_of, meminfo, mountinfo, locks, pids, free_of=df_free_mb, exists=os.path.exists,
             isfile=os.path.isfile):
    """(checks, values) of the host; a probe that fails ends the checks with diagnostics_probe."""
    checks, values = [], {}
    step = "Read the patched packages' dpkg state"
    try:
        patches = p["patches"]
        packages = [x.get("package") or "" for x in patches]
        rows = dpkg_rows(run, packages)
        values["installed"] = dict((name, version) for name, version, _s in rows)
        step = "Find the install roots and measure free space where the patches write"
        needs, defaulted = disk_needs(patches, p["default_required_free_mb"])
        mounts = parse_mountinfo(mountinfo())
        roots = install_roots(run, defaulted, mounts, isfile) if defaulted else []
        values.update(disk_threshold_defaulted=defaulted, install_roots=roots)
        default_paths = (list(p["default_required_free_mb"]) + roots) if defaulted else []
        root_needs = dict((r, p["default_install_root_free_mb"]) for r in roots)
        checks += disk_checks(needs, root_needs, defaulted, default_paths, mounts, free_of, exists)
        step = "Read available memory"
        avail = parse_meminfo_available_mb(meminfo())
        checks.append(check("memory_available_mb", avail >= p["min_memory_mb"], avail, p["min_memory_mb"],
                            "MemAvailable in MiB"))
        step = "Read services and their state"
        checks += service_checks(patches, rows, p["extra_services"], states_of)
        step = "Look for held dpkg/apt locks"
        checks.append(lock_check(p["lock_files"], locks(), pids()))
        if p["check_repo"]:
            step = "Refresh only the patch repository (throw-away lists dir) and read the offered versions"
            repo = repo_state(run, p["repo_sourcelist"], [x for x in packages if x], exists)
            values["repo_available"] = repo["available"]
            checks += repo_checks(repo, patches)
        step = "Look for a pending reboot"
        checks.append(reboot_check(exists(REBOOT_FLAG), p["fail_on_pending_reboot"]))
    except (ProbeError, OSError, ValueError, KeyError) as exc:
        checks.append(check("diagnostics_probe", False, step, None, excerpt(exc, 300)))
    return checks, values


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    run, _run_user = host_runs(module, {"DEBIAN_FRONTEND": "noninteractive"})
    checks, values = diagnose(
        module.params, run, lambda names: service_states(run, names),
        meminfo=lambda: read_text("/proc/meminfo"), mountinfo=lambda: read_text("/proc/self/mountinfo"),
        locks=lambda: read_text("/proc/locks"), pids=package_manager_pids)
    module.exit_json(changed=False, checks=checks, values=values)


if __name__ == "__main__":
    main()
