# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
"""The install phase's host side, shared by ot_patch's modules (ot_patch_install: apt mode in one host run;
ot_patch_state: around push mode's steps): the refresh of the patch repository's lists, the one apt-get
transaction, the install_step check naming the package dpkg failed on, the installed:<package> and reboot checks.

Pure functions of commands' outputs (unit-tested against recorded lab outputs) and readers taking ``run``, a
callable ``run(argv) -> (rc, stdout, stderr)``, as in otorch_probe; nothing here imports Ansible. Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.otorch_probe import check, excerpt, now_of

REBOOT_FLAG = "/var/run/reboot-required"
REFRESH_STEP = "Refresh only the patch repository's package lists"
INSTALL_STEP = "Install the exact target versions from the signed repository (one apt transaction)"
DETAIL_LIMIT = 600
# what ansible.builtin.apt sets for apt-get (its APT_ENV_VARS; the C locale comes with otorch_probe.host_runs)
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "DEBIAN_PRIORITY": "critical"}
_DPKG_FAILED = re.compile(r"^Errors were encountered while processing:\n((?:[ \t]+\S.*\n?)+)", re.M)
_DEBCONF = re.compile(r"debconf: delaying package configuration[^\n]*\n?")
_DPKG_ERROR = re.compile(r"^dpkg: error processing (?:package|archive) (\S+) \((--[a-z-]+)\):\n\s*(.*)$", re.M)


# --- the refresh ------------------------------------------------------------------------------------------


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


# --- the install ------------------------------------------------------------------------------------------


def pending(pkgs, state):
    """The patches whose target version is not installed and configured (dpkg state ii) yet, in order."""
    return [p for p in pkgs if now_of(state, p["package"]) != (str(p.get("target_version")), "ii")]


def install_argv(pkgs, dpkg_options, allow_downgrade, simulate):
    """The one apt-get transaction of ``pkgs``' exact target versions, as ansible.builtin.apt words it (dpkg
    options, the 60 s wait for the dpkg lock, no cache update); ``simulate``: apt-get -s (check mode)."""
    argv = ["apt-get", "-y"] + (["-s"] if simulate else [])
    for option in [o.strip() for o in (dpkg_options or "").split(",") if o.strip()]:
        argv += ["-o", "Dpkg::Options::=--" + option]
    argv += ["-o", "DPkg::Lock::Timeout=60", "install"]
    argv += list(dict.fromkeys("%s=%s" % (p["package"], p.get("target_version")) for p in pkgs))
    return argv + (["--allow-downgrades"] if allow_downgrade else [])


def install_checks(run, argv):
    """[] when the apt-get transaction ``argv`` succeeded, else [its install_step]."""
    rc, out, err = run(argv)
    if rc == 0:
        return []
    result = {"msg": "'%s' failed (rc=%s): %s" % (" ".join(argv), rc, err), "stderr": err, "stdout": out}
    return [failed_step_check(INSTALL_STEP, result)]


# --- a failed step ----------------------------------------------------------------------------------------


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
    """The install_step check of a failed install step (``result``: its ansible_failed_result, or the same keys
    msg/stderr/stdout): the packages dpkg could not install first, then the message (for a loop, the failed
    items' messages), then its stderr (else the end of its stdout) when the message does not hold it already."""
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


# --- after the install ------------------------------------------------------------------------------------


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
