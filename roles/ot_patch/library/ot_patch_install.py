#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_patch_install
short_description: The install phase of apt mode in one host run (state before, refresh, one apt-get, checks)
description:
  - "Reads the installed versions of the patches' packages (C(versions_before)). When some target version is not
    installed and configured (dpkg state C(ii)) yet: refreshes only the patch repository's lists (O(sourcelist); a
    failure is the check C(install_step) and nothing is installed), then ONE C(apt-get install) of every
    C(package=target_version) (dpkg options, C(--allow-downgrades) with O(allow_downgrade), the 60 s wait for the
    dpkg lock, no cache update; a version apt cannot find refuses the whole transaction before anything is
    installed). When every target is installed already nothing runs and nothing changes."
  - "Check mode: no refresh, C(apt-get -s) instead (nothing changes on the host)."
  - "Then the versions after (C(versions_after)), one check C(installed:<package>) per patch (version equals the
    target and dpkg state C(ii); in check mode the check passes), whether a reboot is needed (a patch's
    reboot_required, or /var/run/reboot-required; never after a failed step), and the check C(reboot) when one is
    needed but O(reboot_allowed) is false. A failed apt-get is the check C(install_step) naming the packages dpkg
    could not install."
options:
  patches: {type: list, elements: dict, default: [], description: The catalog entries installed on this host.}
  sourcelist:
    type: str
    default: ""
    description: The apt source list of the patch repository, the only one refreshed (empty refreshes none).
  dpkg_options: {type: str, default: "", description: "Comma-separated dpkg options (C(force-confdef,force-confold))."}
  allow_downgrade: {type: bool, default: false, description: Allow installing a lower version than the installed one.}
  reboot_allowed: {type: bool, default: true, description: A needed reboot may be performed.}
author: otorchestrator maintainers
"""

RETURN = r"""
versions_before: {description: "{package: version} of the patched packages before the install.", type: dict,
                  returned: always}
versions_after: {description: "{package: version} of the patched packages after the install.", type: dict,
                 returned: always}
checks: {description: "install_step (a failed step), reboot (when refused), installed:<package>.", type: list,
         returned: always}
install_failed: {description: The refresh or the apt-get transaction failed., type: bool, returned: always}
reboot_needed: {description: A reboot is needed (false when a step failed)., type: bool, returned: always}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_patch import (
    APT_ENV,
    REBOOT_FLAG,
    after,
    install_argv,
    install_checks,
    pending,
    refresh_checks,
    versions_of,
)
from ansible.module_utils.otorch_probe import ProbeError, dpkg_state, host_runs

ARGUMENT_SPEC = {
    "patches": {"type": "list", "elements": "dict", "default": []},
    "sourcelist": {"type": "str", "default": ""},
    "dpkg_options": {"type": "str", "default": ""},
    "allow_downgrade": {"type": "bool", "default": False},
    "reboot_allowed": {"type": "bool", "default": True},
}


def install(run, pkgs, params, check_mode, flag_exists):
    """The module's result from the host (``run``) and its arguments, without the Ansible module."""
    names = list(dict.fromkeys(p["package"] for p in pkgs))
    before = dpkg_state(run, names)
    todo = pending(pkgs, before)
    steps, ran = [], False
    if todo and params["sourcelist"] and not check_mode:  # the versions are read first: the first change
        steps = refresh_checks(run, params["sourcelist"])
    if todo and not steps:
        steps = install_checks(run, install_argv(todo, params["dpkg_options"], params["allow_downgrade"], check_mode))
        ran = not check_mode  # a failed apt-get may have changed the host too: the state is read again
    state = dpkg_state(run, names) if ran else before
    checks, needed = after(pkgs, state, check_mode, params["reboot_allowed"], bool(steps), flag_exists())
    changed = state != before if not check_mode else bool(todo) and not steps
    return {"changed": changed, "versions_before": versions_of(before), "versions_after": versions_of(state),
            "checks": steps + checks, "install_failed": bool(steps), "reboot_needed": needed}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run, _run_user = host_runs(module, environ_update=APT_ENV)  # fails (os_supported) on a host without dpkg
    pkgs = [x for x in module.params["patches"] if "package" in x]
    try:
        result = install(run, pkgs, module.params, module.check_mode, lambda: os.path.exists(REBOOT_FLAG))
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
