# -*- coding: utf-8 -*-
# Copyright: otorchestrator maintainers; Apache-2.0
"""Read-only probes of a dpkg-based host, shared by the otorchestrator roles' modules
(service states and TCP ports are in otorch_services).

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

# one line per package: name, version, status abbreviation ("ii ", "rc ", "iU ", ...)
DPKG_FORMAT = "${Package}\t${Version}\t${db:Status-Abbrev}\n"
# a package counts as present in these states (installed, half-configured, unpacked, triggers-awaited/pending)
_DPKG_PRESENT = re.compile(r"^.[iFUWt]")
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
