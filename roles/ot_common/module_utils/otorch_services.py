# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
"""Read-only probes of a host's services, shared by the otorchestrator roles' modules: their states (systemd or
SysV, as service_facts and ``service --status-all`` word them), the TCP ports listening, and waiting for a port.

Split as otorch_probe is: pure parsers of a command's text (unit-tested against recorded outputs in
tests/fixtures/role_probes/) and thin readers that take ``run(argv) -> (rc, stdout, stderr)``; nothing here
imports Ansible but otorch_probe (ProbeError, excerpt). Python 3.6+ (the managed hosts').
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import socket
import time

from ansible.module_utils.otorch_probe import ProbeError, excerpt

_SS_ADDR = re.compile(r"[^ ]+:([0-9]+)")
_SYSV_LINE = re.compile(r"^\s*\[ (?P<state>[+?-]) \]\s+(?P<name>.+?)\s*$", re.M)
# service(8) --status-all skips these names in /etc/init.d, and runs the others' status in this environment only
SYSV_SKIPPED = ("functions", "halt", "killall", "single", "linuxconf", "kudzu", "skeleton", "README", "rc", "rcS",
                "reboot", "bootclean.sh")
SYSV_ENV = ("LANG", "LANGUAGE", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES",
            "LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION", "LC_ALL",
            "PATH", "TERM")


# --- services ---------------------------------------------------------------------------------------------


def parse_sysv_status_all(stdout):
    """{service: 'running'|'stopped'} from ``service --status-all`` ('[ ? ]' rows are left out, as service_facts)."""
    return {m.group("name"): ("running" if m.group("state") == "+" else "stopped")
            for m in _SYSV_LINE.finditer(stdout) if m.group("state") != "?"}


def parse_systemctl_show(stdout):
    """{unit: 'running'|'stopped'|'absent'} from ``systemctl show -p Id,LoadState,SubState UNIT...`` (blank-line
    separated blocks)."""
    states = {}
    for block in re.split(r"\n\s*\n", stdout.strip()):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        unit = props.get("Id", "")
        if not unit:
            continue
        if props.get("LoadState") == "not-found":
            state = "absent"
        else:
            state = "running" if props.get("SubState") == "running" else "stopped"
        states[unit[: -len(".service")] if unit.endswith(".service") else unit] = state
    return states


def sysv_script(name, initd="/etc/init.d", executable=lambda path: os.access(path, os.X_OK)):
    """The init script whose status ``service --status-all`` reports as ``name``, or None (it reports none)."""
    skipped = name in SYSV_SKIPPED or name.startswith(".") or name.endswith((".dpkg-dist", ".dpkg-old"))
    path = os.path.join(initd, name)
    return path if name and "/" not in name and not skipped and executable(path) else None


def parse_sysv_status(rc, output):
    """service --status-all's word for a script's ``status`` (exit status, stdout and stderr): None for a usage
    ('[ ? ]', left out), 'running' on exit 0 with some output ('[ + ]'), else 'stopped' ('[ - ]')."""
    if "usage:" in output.lower():
        return None
    return "running" if rc == 0 and output.rstrip("\n") else "stopped"


def run_at_once(commands, env=None, cwd=None):
    """[(rc, stdout and stderr)] of ``commands`` (argv lists), all started before the first is waited for; one
    that cannot start answers (126, why)."""
    import subprocess

    started = []
    for argv in commands:
        try:
            started.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd))
        except OSError as exc:
            started.append(exc)
    return [(126, str(p)) if isinstance(p, OSError) else _answer(p) for p in started]


def _answer(proc):
    out = proc.communicate()[0]
    return proc.returncode, out.decode("utf-8", "replace")


def sysv_states(names, environ, initd="/etc/init.d", at_once=run_at_once):
    """{name: 'running'|'stopped'} of the named SysV services as ``service --status-all`` words them (the others
    left out), asking only their scripts, at once, as service(8) does (env -i but SYSV_ENV of ``environ``)."""
    scripts = [(name, path) for name, path in ((n, sysv_script(n, initd)) for n in names) if path]
    env = dict((key, environ.get(key, "")) for key in SYSV_ENV)
    answers = at_once([[path, "status"] for _name, path in scripts], env=env, cwd=initd)
    states = dict((name, parse_sysv_status(rc, out)) for (name, _path), (rc, out) in zip(scripts, answers))
    return dict((name, state) for name, state in states.items() if state)


def service_states(run, names, systemd=None, sysv=sysv_states):
    """{name: 'running'|'stopped'|'absent'} for the named services (the states service_facts reports)."""
    names = [n for n in names if n]
    if not names:
        return {}
    if systemd is None:
        systemd = os.path.isdir("/run/systemd/system")
    bare = [n[: -len(".service")] if n.endswith(".service") else n for n in names]
    if systemd:
        rc, out, err = run(["systemctl", "show", "--no-pager", "-p", "Id,LoadState,SubState"]
                           + [n + ".service" for n in bare])
        found = parse_systemctl_show(out) if rc == 0 else {}
    else:
        found = sysv(list(dict.fromkeys(bare)), dict(os.environ, LC_ALL="C"))
    return dict((n, found.get(b, "absent")) for n, b in zip(names, bare))


# --- network ----------------------------------------------------------------------------------------------


def parse_ss_listening(stdout):
    """Sorted unique local TCP ports of ``ss -H -l -n -t``."""
    ports = set()
    for line in stdout.splitlines():
        m = _SS_ADDR.search(line)
        if m:
            ports.add(int(m.group(1)))
    return sorted(ports)


def listening_tcp_ports(run):
    rc, out, err = run(["ss", "-H", "-l", "-n", "-t"])
    if rc != 0:
        raise ProbeError("ss failed (rc=%s): %s" % (rc, excerpt(err, 300)))
    return parse_ss_listening(out)


def wait_port(port, timeout, host="127.0.0.1", clock=time.monotonic, sleep=time.sleep):
    """(True, '') once ``host:port`` accepts a TCP connection, else (False, why) after ``timeout`` seconds."""
    deadline = clock() + float(timeout)
    why = ""
    while True:
        try:
            sock = socket.create_connection((host, int(port)), timeout=1)
            sock.close()
            return True, ""
        except (OSError, socket.error) as exc:
            why = str(exc)
        if clock() >= deadline:
            return False, "Timeout when waiting for %s:%s (%s)" % (host, port, why)
        sleep(0.5)
