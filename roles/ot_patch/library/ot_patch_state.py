#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_patch_state
short_description: The patched packages' dpkg state before and after an install, and the install's checks
description:
  - "O(when=before): the installed versions of the patches' packages (C(versions)), read first; then, when
    O(refresh_sourcelist) is set and not in check mode, C(apt-get update) of that source list only. A failed refresh
    is the check C(install_step) (value: the step, detail: apt-get's message) and nothing is installed after it."
  - "O(when=after): the versions after the install, one check C(installed:<package>) per patch (version equals the
    target and dpkg state C(ii); in check mode the install was only simulated and the check passes), whether a reboot
    is needed (a patch's reboot_required, or /var/run/reboot-required), and the check C(reboot) when one is needed but
    O(reboot_allowed) is false and the install steps passed (O(install_failed) false, no O(failed_step)).
    O(failed_step) (a failed install task and its result) becomes the check C(install_step), naming the packages dpkg
    could not install."
  - Reads the host (and refreshes the patch repository's package lists); installs nothing; runs in check mode too.
options:
  patches: {type: list, elements: dict, default: [], description: The catalog entries installed on this host.}
  when: {type: str, choices: [before, after], required: true, description: Which side of the install.}
  refresh_sourcelist:
    type: str
    default: ""
    description: before; the apt source list of the patch repository to refresh (empty, or check mode, refreshes none).
  reboot_allowed: {type: bool, default: true, description: A needed reboot may be performed.}
  install_failed: {type: bool, default: false, description: An install step failed (no reboot is considered).}
  failed_step:
    type: dict
    description: after; the failed install task, C({task, result}) (C(result) as ansible_failed_result).
author: otorchestrator maintainers
"""

RETURN = r"""
versions: {description: "{package: version} of the installed patched packages.", type: dict, returned: always}
checks: {description: "install_step (a failed step), reboot (when refused), installed:<package> (after).",
         type: list, returned: always}
reboot_needed: {description: A reboot is needed (after; false when an install step failed)., type: bool, returned: always}
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import ProbeError, check, dpkg_state, excerpt, host_runs, now_of

REBOOT_FLAG = "/var/run/reboot-required"
REFRESH_STEP = "Refresh only the patch repository's package lists"
DETAIL_LIMIT = 600
_DPKG_FAILED = re.compile(r"^Errors were encountered while processing:\n((?:[ \t]+\S.*\n?)+)", re.M)
_DEBCONF = re.compile(r"debconf: delaying package configuration[^\n]*\n?")
_DPKG_ERROR = re.compile(r"^dpkg: error processing (?:package|archive) (\S+) \((--[a-z-]+)\):\n\s*(.*)$", re.M)


# the one spec: AnsibleModule's here, and the controller's check on the direct path (ot_common/action_plugins)
ARGUMENT_SPEC = {
    "patches": {"type": "list", "elements": "dict", "default": []},
    "when": {"type": "str", "choices": ["before", "after"], "required": True},
    "refresh_sourcelist": {"type": "str", "default": ""},
    "reboot_allowed": {"type": "bool", "default": True},
    "install_failed": {"type": "bool", "default": False},
    "failed_step": {"type": "dict"},
}


def refresh_argv(sourcelist):
    """apt-get update of the patch repository's source list only (the other lists are kept)."""
    return ["apt-get", "-q", "-o", "Dir::Etc::sourcelist=" + sourcelist, "-o", "Dir::Etc::sourceparts=-",
            "-o", "APT::Get::List-Cleanup=0", "-o", "APT::Update::Error-Mode=any", "update"]


def refresh_checks(run, sourcelist):
    """[] when the refresh of ``sourcelist`` succeeded, else [the failed install_step]."""
    rc, out, err = run(refresh_argv(sourcelist))
    if rc == 0:
        return []
    detail = "apt-get update failed (rc=%s): %s %s" % (rc, excerpt(err, 400), excerpt(out[-300:], 300))
    return [check("install_step", False, REFRESH_STEP, None, detail[:DETAIL_LIMIT].strip())]


def dpkg_failures(text):
    """[(package, action, reason)] of dpkg's 'error processing' lines, then any other package it lists in its
    'Errors were encountered while processing:' block (action and reason empty), in order."""
    found = [(m.group(1), m.group(2), m.group(3).strip()) for m in _DPKG_ERROR.finditer(text)]
    named = set(p for p, _a, _r in found)
    for block in _DPKG_FAILED.finditer(text):
        for line in block.group(1).splitlines():
            package = line.strip()
            if package and package not in named:
                named.add(package)
                found.append((package, "", ""))
    return found


def failed_step_check(task, result):
    """The install_step check of a failed install task (``result``: its ansible_failed_result): the packages dpkg
    could not install first, then the module's message (for a loop, the failed items' messages), then its stderr
    (else the end of its stdout) when the message does not hold it already."""
    result = result or {}
    items = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    failures = []
    for r in [result] + items:
        for k in ("msg", "stderr", "stdout"):
            failures += [f for f in dpkg_failures(str(r.get(k) or "")) if f[0] not in [g[0] for g in failures]]
    parts = []
    if failures:
        parts.append("dpkg could not install: %s." % "; ".join(
            "%s (%s: %s)" % (p, a, r) if a else p for p, a, r in failures))
    message = " | ".join(excerpt(_quiet(r.get("msg")), 400) for r in (items or [result]) if r.get("msg"))
    parts.append(message)
    for r in items or [result]:
        tail = excerpt(_quiet(r.get("stderr")), 300) or excerpt(str(r.get("stdout") or "")[-300:], 300)
        if tail and tail[:60] not in message:
            parts.append(tail)
    return check("install_step", False, task or "", None, " ".join(p for p in parts if p)[:DETAIL_LIMIT])


def _quiet(text):
    """apt's text without debconf's notice that it has no frontend (on every lab install)."""
    return _DEBCONF.sub("", str(text or ""))


def versions_of(state):
    return dict((package, row["v"]) for package, row in state.items())


def installed_checks(pkgs, state, check_mode):
    checks = []
    for patch in pkgs:
        target = str(patch.get("target_version"))
        version, status = now_of(state, patch["package"])
        status = status.strip()
        ok = check_mode or (version == target and status == "ii")
        checks.append(check("installed:" + patch["package"], ok, "%s (%s)" % (version, status), target + " (ii)",
                            "check mode: not installed" if check_mode else ""))
    return checks


def after(pkgs, state, check_mode, reboot_allowed, install_failed, flag_exists):
    """(checks, reboot_needed) after the install."""
    needed = not install_failed and (any(p.get("reboot_required") for p in pkgs) or flag_exists)
    checks = []
    if needed and not reboot_allowed:
        checks.append(check("reboot", False, "required", "allowed",
                            "a patch requires a reboot but ot_patch_reboot_allowed is false"))
    return checks + installed_checks(pkgs, state, check_mode), needed


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    p = module.params
    run, _run_user = host_runs(module)  # fails with the check os_supported on a host without dpkg
    pkgs = [x for x in p["patches"] if "package" in x]
    try:
        state = dpkg_state(run, list(dict.fromkeys(x["package"] for x in pkgs)))
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    if p["when"] == "before":  # the versions are read before the refresh, the first change on the host
        refreshed = p["refresh_sourcelist"] and not module.check_mode
        checks = refresh_checks(run, p["refresh_sourcelist"]) if refreshed else []
        module.exit_json(changed=False, versions=versions_of(state), checks=checks, reboot_needed=False)
    step = p["failed_step"]
    checks, needed = after(pkgs, state, module.check_mode, p["reboot_allowed"], p["install_failed"] or bool(step),
                           os.path.exists(REBOOT_FLAG))
    if step:
        checks.insert(0, failed_step_check(step.get("task"), step.get("result")))
    module.exit_json(changed=False, versions=versions_of(state), checks=checks, reboot_needed=needed)


if __name__ == "__main__":
    main()
