#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_patch_state
short_description: The patched packages' dpkg state before and after an install, and the install's checks
description:
  - "O(when=before): the installed versions of the patches' packages (C(versions))."
  - "O(when=after): the versions after the install, one check C(installed:<package>) per patch (version equals the
    target and dpkg state C(ii); in check mode the install was only simulated and the check passes), whether a reboot
    is needed (a patch's reboot_required, or /var/run/reboot-required), and the check C(reboot) when one is needed but
    O(reboot_allowed) is false and the install steps passed (O(install_failed) false)."
  - Read-only; runs in check mode too.
options:
  patches: {type: list, elements: dict, default: [], description: The catalog entries installed on this host.}
  when: {type: str, choices: [before, after], required: true, description: Which side of the install.}
  reboot_allowed: {type: bool, default: true, description: A needed reboot may be performed.}
  install_failed: {type: bool, default: false, description: An install step failed (no reboot is considered).}
author: otorchestrator maintainers
"""

RETURN = r"""
versions: {description: "{package: version} of the installed patched packages.", type: dict, returned: always}
checks: {description: "reboot (when refused) and installed:<package> checks (after).", type: list, returned: always}
reboot_needed: {description: A reboot is needed (after; false when an install step failed)., type: bool, returned: always}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import ProbeError, check, dpkg_host_problem, dpkg_state, now_of

REBOOT_FLAG = "/var/run/reboot-required"


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
        argument_spec=dict(
            patches=dict(type="list", elements="dict", default=[]),
            when=dict(type="str", choices=["before", "after"], required=True),
            reboot_allowed=dict(type="bool", default=True),
            install_failed=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problem = dpkg_host_problem(module.get_bin_path)
    if problem:
        module.fail_json(msg=problem, checks=[check("os_supported", False, "not dpkg", "Debian", problem)])
    pkgs = [x for x in p["patches"] if "package" in x]
    run = lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"})  # noqa: E731
    try:
        state = dpkg_state(run, list(dict.fromkeys(x["package"] for x in pkgs)))
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    if p["when"] == "before":
        module.exit_json(changed=False, versions=versions_of(state), checks=[], reboot_needed=False)
    checks, needed = after(pkgs, state, module.check_mode, p["reboot_allowed"], p["install_failed"],
                           os.path.exists(REBOOT_FLAG))
    module.exit_json(changed=False, versions=versions_of(state), checks=checks, reboot_needed=needed)


if __name__ == "__main__":
    main()
