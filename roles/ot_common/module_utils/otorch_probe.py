# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
"""Read-only probes of a dpkg-based host, shared by the otorchestrator roles' modules.

Each probe is split in two: a parser that turns a command's or a /proc file's text into data (pure, unit-tested
against recorded outputs in tests/fixtures/role_probes/, as pyinfra's facts are) and a thin reader that gets that
text from the host. A reader takes ``run``, a callable ``run(argv) -> (rc, stdout, stderr)`` (AnsibleModule's
run_command in a module, subprocess in tests), so nothing here imports Ansible. Python 3.6+ (the managed hosts').
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import socket
import time

# one line per package: name, version, status abbreviation ("ii ", "rc ", "iU ", ...)
DPKG_FORMAT = "${Package}\t${Version}\t${db:Status-Abbrev}\n"
# a package counts as present in these states (installed, half-configured, unpacked, triggers-awaited/pending)
_DPKG_PRESENT = re.compile(r"^.[iFUWt]")
_SS_ADDR = re.compile(r"[^ ]+:([0-9]+)")
_SYSV_LINE = re.compile(r"^\s*\[ (?P<state>[+?-]) \]\s+(?P<name>.+?)\s*$", re.M)
# service(8) --status-all skips these names in /etc/init.d, and runs the others' status in this environment only
SYSV_SKIPPED = ("functions", "halt", "killall", "single", "linuxconf", "kudzu", "skeleton", "README", "rc", "rcS",
                "reboot", "bootclean.sh")
SYSV_ENV = ("LANG", "LANGUAGE", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES",
            "LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION", "LC_ALL",
            "PATH", "TERM")
MIB = 1024 * 1024


def check(name, ok, value=None, threshold=None, detail=""):
    """One check of the result contract (docs/contracts.md section 5)."""
    return {"name": name, "ok": bool(ok), "value": value, "threshold": threshold, "detail": detail}


def to_nice_json(data):
    """The bytes Ansible's ``to_nice_json(sort_keys=true)`` writes (the manifests' on-disk form)."""
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False, separators=(",", ": "))


def canonical(data):
    """A JSON value in a form that compares equal exactly when the JSON documents are equal."""
    return json.loads(json.dumps(data, sort_keys=True))


def excerpt(text, limit=200):
    text = " ".join(str(text or "").split())
    return text[:limit]


# --- dpkg -------------------------------------------------------------------------------------------------


def parse_dpkg_rows(stdout):
    """[(package, version, status)] of every row of ``dpkg-query -W -f=DPKG_FORMAT`` (whatever the status)."""
    rows = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0]:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def parse_dpkg(stdout):
    """{package: {"v": version, "s": status}} of the rows of ``dpkg-query -W -f=DPKG_FORMAT`` that are present."""
    return {name: {"v": version, "s": status.strip()}
            for name, version, status in parse_dpkg_rows(stdout) if _DPKG_PRESENT.match(status)}


def dpkg_rows(run, packages):
    """parse_dpkg_rows of ``packages``; raises ProbeError when dpkg-query cannot run."""
    packages = [p for p in packages if p]
    if not packages:
        return []
    rc, out, err = run(["dpkg-query", "-W", "-f=" + DPKG_FORMAT] + list(packages))
    if rc > 1:  # 1: some package is unknown, which is an answer
        raise ProbeError("dpkg-query failed (rc=%s): %s" % (rc, excerpt(err, 300)))
    return parse_dpkg_rows(out)


def dpkg_state(run, packages):
    """The dpkg state of ``packages`` (absent ones are left out); raises ProbeError when dpkg-query cannot run."""
    return {name: {"v": version, "s": status.strip()}
            for name, version, status in dpkg_rows(run, packages) if _DPKG_PRESENT.match(status)}


def now_of(state, package):
    """(version or None, status) of one package in a dpkg_state answer; status 'not-installed' when absent."""
    row = state.get(package)
    return (row["v"], row["s"]) if row else (None, "not-installed")


def parse_dpkg_files(stdout):
    """The absolute paths ``dpkg-query -L`` lists (directories included; the caller keeps the files)."""
    return [line.strip() for line in stdout.splitlines() if line.startswith("/")]


# --- files ------------------------------------------------------------------------------------------------


def sha256_file(path, bufsize=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(bufsize), b""):
            digest.update(block)
    return digest.hexdigest()


def file_info(path, owner_of=None):
    """{"checksum", "mode", "pw_name", "gr_name"} of a regular file (as ansible.builtin.stat names them), or None
    when it does not exist. ``owner_of(st) -> (user, group)`` resolves the names (pwd/grp by default)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    user, group = (owner_of or _owner_names)(st)
    return {"checksum": sha256_file(path), "mode": "%04o" % (st.st_mode & 0o7777), "pw_name": user, "gr_name": group}


def _owner_names(st):
    import grp
    import pwd

    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return user, group


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


# --- disk, memory, locks ----------------------------------------------------------------------------------


def _unescape_mount(path):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def parse_mountinfo(text):
    """[(mount point, fstype)] from /proc/self/mountinfo, in file order."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        mounts.append((_unescape_mount(fields[4]), right.split()[0] if right.split() else ""))
    return mounts


def mount_of(path, mounts):
    """The mount point holding ``path`` (the longest mount point that is a prefix; the last such mount wins)."""
    best = "/"
    for point, _fstype in mounts:
        if path == point or path.startswith(point.rstrip("/") + "/") or point == "/":
            if len(point) >= len(best):
                best = point
    return best


def existing_parent(path, exists=os.path.exists):
    while path and not exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path or "/"


def parse_meminfo_available_mb(text):
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def parse_locked_inodes(text):
    """The inode numbers /proc/locks lists (field MAJ:MIN:INODE)."""
    inodes = set()
    for line in text.splitlines():
        for field in line.split():
            parts = field.split(":")
            if len(parts) == 3 and all(re.match(r"^[0-9a-f]+$", p) for p in parts[:2]) and parts[2].isdigit():
                inodes.add(int(parts[2]))
    return inodes


PACKAGE_MANAGERS = ("apt", "apt-get", "dpkg", "aptitude", "unattended-upgr")


def package_manager_pids(proc="/proc"):
    pids = []
    for entry in sorted(os.listdir(proc), key=lambda e: (len(e), e)):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm")) as f:
                comm = f.read().strip()
        except (IOError, OSError):
            continue
        if comm in PACKAGE_MANAGERS:
            pids.append(entry)
    return pids


def read_text(path):
    with open(path) as f:
        return f.read()


def write_if_changed(path, content, mode=0o600):
    """Write `content` to `path` (through `path`.tmp and a rename, created with `mode`) unless the file
    already holds exactly that; True when it wrote."""
    try:
        with open(path) as f:
            if f.read() == content:
                return False
    except (IOError, OSError):
        pass
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)  # the exact mode, whatever the umask
    os.rename(tmp, path)
    return True


def os_release(text):
    """{KEY: value} of /etc/os-release."""
    info = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            info[key.strip()] = value.strip().strip('"').strip("'")
    return info


def dpkg_host_problem(which):
    """None on a dpkg-based host, else why the roles cannot work there. ``which(name) -> path or None``."""
    missing = [tool for tool in ("dpkg-query", "dpkg") if not which(tool)]
    if missing:
        return "not a dpkg-based host (no %s): the otorchestrator roles support Debian/dpkg Linux hosts only" % (
            ", ".join(missing))
    return None


def host_runs(module, environ_update=None):
    """(run, run_user) of an AnsibleModule on a dpkg-based host; on any other host the module fails with the check
    os_supported. ``run(argv)`` reads the host (C locale and ``environ_update``); ``run_user(argv)`` runs a
    catalog's or an operator's command as the command module would (the module's environment; a program that does
    not exist answers rc = errno and no output)."""
    problem = dpkg_host_problem(module.get_bin_path)
    if problem:
        module.fail_json(msg=problem, checks=[check("os_supported", False, "not dpkg", "Debian", problem)])
    env = dict(environ_update or {}, LC_ALL="C")

    def run(argv):
        return module.run_command(argv, environ_update=env)

    def run_user(argv):
        try:
            return module.run_command(argv, handle_exceptions=False)
        except OSError as exc:
            return exc.errno, "", ""

    return run, run_user


def output_detail(out, err):
    """What a role recorded of a command: stdout and stderr (as the command module strips them), 200 chars."""
    return ("%s %s" % (out.rstrip("\r\n"), err.rstrip("\r\n")))[:200].strip()


class ProbeError(Exception):
    """A probe could not read the host (the role records it as its failed step)."""
