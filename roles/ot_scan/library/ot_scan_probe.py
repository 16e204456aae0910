#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ot_scan_probe
short_description: The read-only inventory scan of a host, in one module
description:
  - "Returns the scan values: C(os) (family, distribution, version, major_version, kernel, architecture, from
    ansible-core's own distribution and platform fact collectors), C(packages) ({name: version} of the installed
    packages matching O(package_regex)), C(package_status) (those not fully installed: their dpkg status),
    C(services) ({name: state} as ansible.builtin.service_facts reports them), C(listening) and
    C(listening_tcp_ports) (ss), C(disk_free_mb) and C(disk_fstype) per mount (df, without O(skip_fstypes)),
    C(memory) (total_mb, available_mb), C(config_sha256) (per file of O(config_files); null when absent)."
  - The check C(scan_complete) passes; a probe that cannot read the host fails it, naming the probe, with no values.
  - Never changes the host; runs in check mode too.
options:
  config_files: {type: list, elements: str, default: [], description: Files whose sha256 is reported.}
  package_regex: {type: str, default: "", description: "Only packages whose name matches (re.match; empty: all)."}
  skip_fstypes: {type: list, elements: str, default: [], description: Filesystem types left out of the disk report.}
author: otorchestrator maintainers
"""

RETURN = r"""
checks: {description: "[scan_complete].", type: list, returned: always}
values: {description: The scan values above ({} when a probe failed)., type: dict, returned: always}
"""

import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.service import is_systemd_managed
from ansible.module_utils.otorch_probe import (
    DPKG_FORMAT,
    ProbeError,
    check,
    excerpt,
    host_runs,
    parse_dpkg_rows,
    read_text,
    sha256_file,
)
from ansible.module_utils.otorch_services import parse_sysv_status_all

_PRESENT = re.compile(r"^.[iFUWt]")
_DF_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(.+)$")
_SS_LOCAL = re.compile(r"[^ ]+:[0-9]+")
_SYSTEMD_BAD = ("not-found", "masked", "failed")


def package_values(rows, regex):
    """(packages, package_status): the present packages whose name matches, and those not fully installed."""
    packages, partial = {}, {}
    for name, version, status in rows:
        if not re.match(regex, name) or not _PRESENT.match(status):
            continue
        packages[name] = version
        if not status.startswith("i", 1):
            partial[name] = status.strip()
    return packages, partial


def parse_df(stdout, skip):
    """(disk_free_mb, disk_fstype) of ``df -m --output=fstype,avail,target`` (the header row left out; the target
    last: it may hold spaces)."""
    free, fstype = {}, {}
    for line in stdout.rstrip("\r\n").splitlines()[1:]:
        m = _DF_ROW.match(line.strip())
        if m and m.group(1) not in skip:
            free[m.group(3)] = int(m.group(2))
            fstype[m.group(3)] = m.group(1)
    return free, fstype


def parse_ss(stdout):
    """(listening, listening_tcp_ports) of ``ss -H -l -n -t -u``: "<netid> <local address>" per row, and the
    sorted unique local TCP ports."""
    listening, ports = [], []
    for line in stdout.rstrip("\r\n").splitlines():
        fields = line.split()
        if not fields:
            continue
        m = _SS_LOCAL.search(line)
        local = m.group(0) if m else None
        listening.append("%s %s" % (fields[0], local))
        if fields[0] == "tcp" and local is not None:
            ports.append(int(re.sub(r"^.*:", "", local)))
    return listening, sorted(set(ports))


def parse_meminfo_mb(text):
    """(total_mb, available_mb) of /proc/meminfo."""
    kb = {}
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] in ("MemTotal:", "MemAvailable:") and fields[0] not in kb:
            kb[fields[0]] = int(fields[1])
    return kb.get("MemTotal:", 0) // 1024, kb.get("MemAvailable:", 0) // 1024


def parse_systemctl_units(stdout):
    """{unit: {"state", "status"}} of ``systemctl list-units --no-pager --type service --all --plain``, read as
    ansible.builtin.service_facts reads it."""
    services = {}
    for line in stdout.split("\n"):
        if ".service" not in line:
            continue
        fields = line.split()
        status = next((bad for bad in _SYSTEMD_BAD if bad in fields[:-1]), fields[2])
        services[fields[0]] = {"state": "running" if fields[3] == "running" else "stopped", "status": status}
    return services


def parse_systemctl_unit_files(stdout):
    """[(unit, status)] of ``systemctl list-unit-files --no-pager --type service --all``."""
    return [tuple(line.split()[:2]) for line in stdout.split("\n") if ".service" in line and len(line.split()) > 1]


def systemd_services(run, systemctl="systemctl"):
    """{unit: state}: the units systemd lists, then the unit files it did not (their ActiveState), as
    service_facts merges them."""
    rc, out, _err = run([systemctl, "list-units", "--no-pager", "--type", "service", "--all", "--plain"])
    units = parse_systemctl_units(out) if rc == 0 else {}
    states = dict((name, unit["state"]) for name, unit in units.items())
    rc, out, _err = run([systemctl, "list-unit-files", "--no-pager", "--type", "service", "--all"])
    for name, _status in parse_systemctl_unit_files(out) if rc == 0 else []:
        if name not in states:
            rc, shown, _err = run([systemctl, "show", name, "--property=ActiveState"])
            states[name] = shown.replace("ActiveState=", "").rstrip() if not rc and shown != "" else "unknown"
    return states


def all_services(run, which, systemd):
    """{service: state} as service_facts reports them on a Debian host: `service --status-all` (SysV), then the
    systemd units when systemd runs."""
    states = {}
    if which("service") and not which("chkconfig") and not which("rc-status"):
        rc, out, _err = run(["service", "--status-all"])
        states.update(parse_sysv_status_all(out))
    if systemd:
        states.update(systemd_services(run, which("systemctl") or "systemctl"))
    return states


def config_hashes(paths, lstat=os.lstat, digest=sha256_file):
    """{path: sha256} of the regular files, then {path: None} of those that do not exist (or are not files)."""
    present, absent = {}, {}
    for path in paths:
        try:
            st = lstat(path)
        except OSError:
            absent[path] = None
            continue
        if stat.S_ISREG(st.st_mode):
            present[path] = digest(path)
        else:
            absent[path] = None
    present.update(absent)
    return present


def scan(p, run, os_facts, services_of, meminfo, lstat=os.lstat):
    """(checks, values); a probe that fails empties the values and fails scan_complete, naming the probe."""
    values = {}
    step = "Gather OS, mount and memory facts"
    try:
        values["os"] = os_facts()
        step = "Read installed packages (dpkg)"
        rc, out, err = run(["dpkg-query", "-W", "-f=" + DPKG_FORMAT])
        if rc != 0:
            raise ProbeError("dpkg-query failed (rc=%s): %s" % (rc, excerpt(err, 300)))
        values["packages"], values["package_status"] = package_values(parse_dpkg_rows(out), p["package_regex"])
        step = "Read services and their state"
        values["services"] = services_of()
        step = "Read listening sockets"
        rc, out, err = run(["ss", "-H", "-l", "-n", "-t", "-u"])
        if rc != 0:
            raise ProbeError("ss failed (rc=%s): %s" % (rc, excerpt(err, 300)))
        values["listening"], values["listening_tcp_ports"] = parse_ss(out)
        step = "Read free disk per mount (leaving out the skipped filesystem types)"
        rc, out, err = run(["df", "-m", "--output=fstype,avail,target"]
                           + ["--exclude-type=" + t for t in p["skip_fstypes"]])
        if len(out.rstrip("\r\n").splitlines()) < 2:
            raise ProbeError("df listed no mount (rc=%s): %s" % (rc, excerpt(err, 300)))
        values["disk_free_mb"], values["disk_fstype"] = parse_df(out, p["skip_fstypes"])
        step = "Read memory"
        total, available = parse_meminfo_mb(meminfo())
        values["memory"] = {"total_mb": total, "available_mb": available}
        step = "Hash the declared config files"
        values["config_sha256"] = config_hashes(p["config_files"], lstat)
    except (ProbeError, OSError, ValueError, KeyError, IndexError) as exc:
        return [check("scan_complete", False, step, None, excerpt(exc, 300))], {}
    return [check("scan_complete", True)], values


def os_facts_of(module):
    """The os values from ansible-core's own collectors (what the setup module reports)."""
    from ansible.module_utils.facts.system.distribution import DistributionFactCollector
    from ansible.module_utils.facts.system.platform import PlatformFactCollector

    facts = DistributionFactCollector().collect(module=module)
    facts.update(PlatformFactCollector().collect(module=module))
    return {"family": facts["os_family"], "distribution": facts["distribution"],
            "version": facts["distribution_version"], "major_version": facts["distribution_major_version"],
            "kernel": facts["kernel"], "architecture": facts["architecture"]}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_files=dict(type="list", elements="str", default=[]),
            package_regex=dict(type="str", default=""),
            skip_fstypes=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    run, _run_user = host_runs(module)
    checks, values = scan(
        module.params, run, lambda: os_facts_of(module),
        lambda: all_services(run, module.get_bin_path, is_systemd_managed(module)),
        meminfo=lambda: read_text("/proc/meminfo"))
    module.exit_json(changed=False, checks=checks, values=values)


if __name__ == "__main__":
    main()
