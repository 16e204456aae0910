#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_patch_state
short_description: Push mode's dpkg state before and after the install, and the install's checks
description:
  - "Around push mode's steps (tasks/push.yml; apt mode is the one module ot_patch_install)."
  - "O(when=before): the installed versions of the patches' packages (C(versions))."
  - "O(when=after): the versions after the install, one check C(installed:<package>) per patch (version equals the
    target and dpkg state C(ii); in check mode the install was only simulated and the check passes), whether a reboot
    is needed (a patch's reboot_required, or /var/run/reboot-required), and the check C(reboot) when one is needed but
    O(reboot_allowed) is false and no install step failed (no O(failed_step)). O(failed_step) (a failed install task
    and its result) becomes the check C(install_step), naming the packages dpkg could not install."
  - Reads the host; changes nothing; runs in check mode too.
options:
  patches: {type: list, elements: dict, default: [], description: The catalog entries installed on this host.}
  when: {type: str, choices: [before, after], required: true, description: Which side of the install.}
  reboot_allowed: {type: bool, default: true, description: A needed reboot may be performed.}
  failed_step:
    type: dict
    description: after; the failed install task, C({task, result}) (C(result) as ansible_failed_result).
author: otorchestrator maintainers
"""

RETURN = r"""
versions: {description: "{package: version} of the installed patched packages.", type: dict, returned: always}
checks: {description: "install_step (a failed step), reboot (when refused), installed:<package>.", type: list,
         returned: after}
reboot_needed: {description: A reboot is needed (false when an install step failed)., type: bool, returned: after}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_patch import REBOOT_FLAG, after, failed_step_check, versions_of
from ansible.module_utils.otorch_probe import ProbeError, dpkg_state, host_runs

ARGUMENT_SPEC = {
    "patches": {"type": "list", "elements": "dict", "default": []},
    "when": {"type": "str", "choices": ["before", "after"], "required": True},
    "reboot_allowed": {"type": "bool", "default": True},
    "failed_step": {"type": "dict"},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    run, _run_user = host_runs(module)  # fails with the check os_supported on a host without dpkg
    pkgs = [x for x in p["patches"] if "package" in x]
    try:
        state = dpkg_state(run, list(dict.fromkeys(x["package"] for x in pkgs)))
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    if p["when"] == "before":
        module.exit_json(changed=False, versions=versions_of(state))
    step = p["failed_step"]
    checks, needed = after(pkgs, state, module.check_mode, p["reboot_allowed"], bool(step),
                           os.path.exists(REBOOT_FLAG))
    if step:
        checks.insert(0, failed_step_check(step.get("task"), step.get("result")))
    module.exit_json(changed=False, versions=versions_of(state), checks=checks, reboot_needed=needed)


if __name__ == "__main__":
    main()
