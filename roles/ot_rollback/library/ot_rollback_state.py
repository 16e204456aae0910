#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_rollback_state
short_description: What a rollback must restore, and afterwards the checks that the baseline is back
description:
  - "O(mode=plan): from the dpkg state of the manifest's packages, C(restore) (the recorded packages not installed
    at their recorded version in state C(ii)) and C(remove) (those not installed at backup time that are now)."
  - "O(mode=baseline): the checks, in this order: C(version:<package>) (recorded version and state C(ii), or not
    installed), C(config:<path>) (sha256 against the backup's), C(port_listening:<port>) (the backup's ports and the
    patches', each waited for up to O(port_timeout) seconds), C(service_running:<service>) (those that ran at
    backup time), C(health:<package>) (the patches' health commands of recorded packages, exit 0 within 15 s)
    and C(no_new_listeners); in check mode every check but the last passes (nothing was restored). A probe that
    cannot read the host ends the list with a failed check C(baseline_probe) naming it."
  - Read-only; runs in check mode too.
options:
  mode: {type: str, choices: [plan, baseline], required: true, description: Which side of the restore.}
  manifest: {type: dict, required: true, description: "The backup's manifest (packages, config_files, services, listening_tcp_ports)."}
  patches: {type: list, elements: dict, default: [], description: Catalog entries that were being installed.}
  port_timeout: {type: int, default: 10, description: Seconds to wait for each port to listen.}
  check_new_listeners: {type: bool, default: true, description: Fail no_new_listeners when a port listens that did not.}
author: otorchestrator maintainers
"""

RETURN = r"""
restore: {description: "[{key: package, value: recorded version}] to install (plan).", type: list, returned: always}
remove: {description: "[{key: package, value: null}] to remove (plan).", type: list, returned: always}
checks: {description: The baseline checks in the order above (baseline)., type: list, returned: always}
versions: {description: "{package: installed version or null} (baseline).", type: dict, returned: always}
values: {description: "{listening_tcp_ports: [port]} once read (baseline).", type: dict, returned: always}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import (
    ProbeError,
    check,
    dpkg_state,
    excerpt,
    host_runs,
    now_of,
    output_detail,
    sha256_file,
)
from ansible.module_utils.otorch_services import listening_tcp_ports, service_states, wait_port

CONFIG_DETAIL = "sha256 now (value) against the backup (threshold)"
NEW_LISTENERS_DETAIL = "TCP ports listening now that did not at backup time"


# the one spec: AnsibleModule's here, and the controller's check on the direct path (ot_common/action_plugins)
ARGUMENT_SPEC = {
    "mode": {"type": "str", "choices": ["plan", "baseline"], "required": True},
    "manifest": {"type": "dict", "required": True},
    "patches": {"type": "list", "elements": "dict", "default": []},
    "port_timeout": {"type": "int", "default": 10},
    "check_new_listeners": {"type": "bool", "default": True},
}


def plan(packages, state):
    """(restore, remove) as [{key, value}] in the manifest's order."""
    restore = [{"key": name, "value": version} for name, version in packages.items()
               if version and now_of(state, name) != (version, "ii")]
    remove = [{"key": name, "value": version} for name, version in packages.items()
              if not version and name in state]
    return restore, remove


def running_services(manifest):
    return [name for name, state in manifest["services"].items() if state == "running"]


def ports_of(manifest, patches):
    ports = list(manifest["listening_tcp_ports"]) + [port for x in patches for port in (x.get("ports") or [])]
    return list(dict.fromkeys(ports))


def health_commands(manifest, patches):
    recorded = [name for name, version in manifest["packages"].items() if version]
    return [("health:" + x["package"], ["timeout", "15"] + str(x["health_command"]).split())
            for x in patches if "health_command" in x and x.get("package") in recorded]


def version_checks(packages, state, check_mode):
    checks, versions = [], {}
    for name, recorded in packages.items():
        version, status = now_of(state, name)
        want = "ii" if recorded else "not-installed"
        ok = check_mode or (version == recorded and status == want)
        checks.append(check("version:" + name, ok, "%s (%s)" % (version, status), "%s (%s)" % (recorded, want),
                            "check mode: not restored" if check_mode else ""))
        versions[name] = version
    return checks, versions


def file_sha(path):
    """sha256 of a regular file, None when there is none (as stat's checksum of a missing path)."""
    return sha256_file(path) if os.path.isfile(path) else None


def config_checks(files, check_mode, sha=file_sha):
    checks = []
    for path, info in files.items():
        want = info["checksum"] if info else None
        have = sha(path)
        checks.append(check("config:" + path, check_mode or want == have, have, want, CONFIG_DETAIL))
    return checks


def port_checks(ports, timeout, check_mode, wait=wait_port):
    """One check per port; in check mode each is tried once, not waited for (nothing was restarted)."""
    checks = []
    for port in ports:
        up, _why = wait(port, 0 if check_mode else timeout)
        detail = "" if up else "Timeout when waiting for 127.0.0.1:%s" % port  # as wait_for words it
        if check_mode and not up:
            detail = "check mode: not waited for"
        checks.append(check("port_listening:%s" % port, check_mode or up, "listening" if up else "closed",
                            "listening", detail))
    return checks


def baseline(manifest, patches, run, run_user, states_of, check_mode, port_timeout=10, check_new_listeners=True,
             wait=wait_port, sha=file_sha):
    """(checks, versions, values) of the host after a restore; a probe that fails ends the checks with
    baseline_probe naming the step (as the role's task chain did)."""
    checks, versions, values = [], {}, {}
    step = "Read the recorded packages' dpkg state"
    try:
        state = dpkg_state(run, list(manifest["packages"]))
        found, versions = version_checks(manifest["packages"], state, check_mode)
        checks += found
        step = "Hash the config files after the rollback"
        checks += config_checks(manifest["config_files"], check_mode, sha)
        step = "Wait for the baseline ports to listen again"
        checks += port_checks(ports_of(manifest, patches), port_timeout, check_mode, wait)
        step = "Read the services after the rollback"
        names = running_services(manifest)
        states = states_of(names)
        checks += [check("service_running:" + n, check_mode or states.get(n) == "running", states.get(n, "absent"),
                         "running", "") for n in names]
        step = "Run the health commands of the restored packages"
        for name, argv in health_commands(manifest, patches):
            rc, out, err = run_user(argv)
            checks.append(check(name, check_mode or rc == 0, rc, 0, output_detail(out, err)))
        step = "Read the listening TCP ports after the rollback"
        now = listening_tcp_ports(run)
        new = [port for port in now if port not in manifest["listening_tcp_ports"]]
        checks.append(check("no_new_listeners", not new or not check_new_listeners, new, [], NEW_LISTENERS_DETAIL))
        values["listening_tcp_ports"] = now
    except (ProbeError, OSError, ValueError, KeyError, TypeError) as exc:
        checks.append(check("baseline_probe", False, step, None, excerpt(exc, 300)))
    return checks, versions, values


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    p = module.params
    run, run_user = host_runs(module)
    manifest = p["manifest"]
    if p["mode"] == "plan":
        try:
            state = dpkg_state(run, list(manifest["packages"]))
        except ProbeError as exc:
            module.fail_json(msg=str(exc))
        restore, remove = plan(manifest["packages"], state)
        module.exit_json(changed=False, restore=restore, remove=remove, checks=[], versions={}, values={})
    checks, versions, values = baseline(manifest, p["patches"], run, run_user, lambda names: service_states(run, names),
                                        module.check_mode, p["port_timeout"], p["check_new_listeners"])
    module.exit_json(changed=False, restore=[], remove=[], checks=checks, versions=versions, values=values)


if __name__ == "__main__":
    main()
