#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_verify_probe
short_description: Every post-patch check of a host, in one module
description:
  - "Returns the checks (name, ok, value, threshold, detail; contracts.md section 5), in this order:
    C(version:<package>) (installed version and dpkg state equal the target), C(port_listening:<port>) (waits up to
    O(port_timeout) seconds), C(service_running:<service>), C(health:<package>) (the catalog's health_command exits 0
    within O(health_timeout) seconds), C(extra:<name>) of the command checks, then of the HTTP checks."
  - A probe that cannot read the host ends the list with a failed check C(verify_probe) naming it.
  - Read-only; runs in check mode too, where a version other than the target passes when it is installed intact
    (the install was only simulated).
options:
  patches: {type: list, elements: dict, default: [], description: Catalog entries installed on this host.}
  port_timeout: {type: int, default: 5, description: Seconds to wait for each port to listen.}
  health_timeout: {type: int, default: 15, description: Seconds a health command may take.}
  extra_checks:
    type: list
    elements: dict
    default: []
    description: "[{name, command: argv list or str} or {name, url, status_code (200), timeout (5)}]."
author: otorchestrator maintainers
"""

RETURN = r"""
checks: {description: The checks in the order above., type: list, returned: always}
versions: {description: "{package: installed version or null}.", type: dict, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.otorch_probe import (
    ProbeError,
    check,
    dpkg_state,
    excerpt,
    host_runs,
    now_of,
    output_detail,
)
from ansible.module_utils.otorch_services import service_states, wait_port

CHECK_MODE_NOTE = ("check mode: the install was simulated, so the installed version is checked to be intact, not to "
                   "be the target")


# the one spec: AnsibleModule's here, and the controller's check on the direct path (ot_common/action_plugins)
ARGUMENT_SPEC = {
    "patches": {"type": "list", "elements": "dict", "default": []},
    "port_timeout": {"type": "int", "default": 5},
    "health_timeout": {"type": "int", "default": 15},
    "extra_checks": {"type": "list", "elements": "dict", "default": []},
}


def version_checks(pkgs, state, check_mode):
    """(version checks, {package: version or None}) of the patches naming a package."""
    checks, versions = [], {}
    for patch in pkgs:
        package, target = patch["package"], str(patch.get("target_version"))
        version, status = now_of(state, package)
        status = status.strip()
        ok = status == "ii" and (version == target or check_mode)
        detail = CHECK_MODE_NOTE if check_mode and version != target else ""
        checks.append(check("version:" + package, ok, "%s (%s)" % (version, status), target + " (ii)", detail))
        versions[package] = version
    return checks, versions


def port_checks(ports, timeout, wait=wait_port):
    checks = []
    for port in ports:
        up, _why = wait(port, timeout)
        detail = "" if up else "Timeout when waiting for 127.0.0.1:%s" % port
        checks.append(check("port_listening:%s" % port, up, "listening" if up else "closed", "listening", detail))
    return checks


def command_checks(items, run):
    """[(name, argv)] -> one check each: exit status 0."""
    checks = []
    for name, argv in items:
        rc, out, err = run(argv)
        checks.append(check(name, rc == 0, rc, 0, output_detail(out, err)))
    return checks


def http_check(item, fetch):
    """extra:<name> of an HTTP check, as ansible.builtin.uri words it; ``fetch(url, timeout) -> (status, msg)``
    (fetch_url's info: status -1 when nothing answered)."""
    want = int(item.get("status_code", 200))
    status, msg = fetch(item["url"], int(item.get("timeout", 5)))
    if status != want:
        msg = "Status code was %s and not [%s]: %s" % (status, want, msg)
    return check("extra:" + item["name"], status == want, status, item.get("status_code", 200), str(msg)[:200])


def verify(p, run, states_of, check_mode, wait=wait_port, fetch=None, run_user=None):
    """(checks, versions) of the host; a probe that fails ends the checks with verify_probe. ``run`` reads the
    host (C locale), ``run_user`` runs the catalog's and the operator's commands as the command module would
    (the module's environment, a missing program answering rc = errno)."""
    run_user = run_user or run
    checks, versions = [], {}
    patches = p["patches"]
    pkgs = [x for x in patches if "package" in x]
    step = "Read the patched packages' dpkg state"
    try:
        state = dpkg_state(run, list(dict.fromkeys(x["package"] for x in pkgs)))
        found, versions = version_checks(pkgs, state, check_mode)
        checks += found
        step = "Wait briefly for each port to listen"
        ports = list(dict.fromkeys(port for x in patches for port in (x.get("ports") or [])))
        checks += port_checks(ports, p["port_timeout"], wait)
        step = "Read services and their state"
        names = list(dict.fromkeys(s for x in patches for s in (x.get("services") or [])))
        states = states_of(names)
        checks += [check("service_running:" + n, states.get(n) == "running", states.get(n, "absent"), "running", "")
                   for n in names]
        step = "Run the health commands"
        timeout = str(p["health_timeout"])
        checks += command_checks([("health:" + x["package"], ["timeout", timeout] + str(x["health_command"]).split())
                                  for x in pkgs if "health_command" in x], run_user)
        step = "Run the extra command checks"
        extra = p["extra_checks"]
        checks += command_checks([("extra:" + x["name"], x["command"] if isinstance(x["command"], list)
                                   else str(x["command"]).split()) for x in extra if "command" in x], run_user)
        step = "Run the extra HTTP checks"
        checks += [http_check(x, fetch) for x in extra if "url" in x]
    except (ProbeError, OSError, ValueError, KeyError, TypeError) as exc:
        checks.append(check("verify_probe", False, step, None, excerpt(exc, 300)))
    return checks, versions


def http_get(url, timeout, urlopen=None):
    """(status, msg) of a GET of ``url`` as fetch_url's info words them (status -1 when nothing answered), with
    the standard library only: the module also runs without AnsiballZ (ot_common/action_plugins/_otorch_direct.py),
    where no ansible-core module_utils exist. Redirects are followed and certificates verified, as fetch_url's
    defaults."""
    import urllib.error
    import urllib.request

    try:
        with (urlopen or urllib.request.urlopen)(url, timeout=timeout) as response:
            body = response.read()
            return int(response.status), "OK (%s bytes)" % len(body)
    except urllib.error.HTTPError as exc:
        return int(exc.code), "HTTP Error %s: %s" % (exc.code, exc.reason)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return -1, "Request failed: %s" % (exc,)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    run, run_user = host_runs(module)
    checks, versions = verify(module.params, run, lambda names: service_states(run, names), module.check_mode,
                              fetch=http_get, run_user=run_user)
    module.exit_json(changed=False, checks=checks, versions=versions)


if __name__ == "__main__":
    main()
