#!/usr/bin/python3
"""Read-only check of the patch repository: refresh ONLY the given source into a throw-away lists dir,
so a bad signature fails, and report which versions of the given packages the signed repo offers.

usage: repo_check.py SOURCELIST [PACKAGE ...]   -> one JSON object on stdout
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SIG_ERRORS = re.compile(r"NO_PUBKEY|BADSIG|EXPKEYSIG|REVKEYSIG|is not signed|GPG error|signature|Release file", re.I)


def main() -> int:
    sourcelist, packages = sys.argv[1], sys.argv[2:]
    tmp = tempfile.mkdtemp(prefix="otorch-diag-")
    try:
        os.chmod(tmp, 0o755)
        lists = os.path.join(tmp, "lists")
        os.makedirs(os.path.join(lists, "partial"))
        for d in (lists, os.path.join(lists, "partial")):
            os.chmod(d, 0o755)
        try:
            shutil.chown(os.path.join(lists, "partial"), user="_apt")
        except (LookupError, PermissionError, OSError):
            pass
        opts = [
            "-o", f"Dir::Etc::sourcelist={sourcelist}",
            "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={lists}",
            "-o", "Dir::Cache::pkgcache=",
            "-o", "Dir::Cache::srcpkgcache=",
            "-o", "APT::Get::List-Cleanup=0",
        ]
        src_path = sourcelist if sourcelist.startswith("/") else os.path.join("/etc/apt", sourcelist)
        result = {"sourcelist": src_path, "sourcelist_exists": os.path.exists(src_path)}
        env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
        upd = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True, env=env, timeout=120)
        out = (upd.stdout + upd.stderr).splitlines()
        errors = [line for line in out if line.startswith(("E:", "W:", "Err:")) and SIG_ERRORS.search(line)]
        other = [line for line in out if line.startswith(("E:", "Err:"))]
        result.update(
            update_rc=upd.returncode,
            signature_ok=upd.returncode == 0 and not errors and result["sourcelist_exists"],
            errors=(errors or other)[:4],
        )
        available = {}
        for pkg in packages:
            mad = subprocess.run(["apt-cache", *opts, "madison", pkg], capture_output=True, text=True, env=env,
                                 timeout=60)
            available[pkg] = [f.split("|")[1].strip() for f in mad.stdout.splitlines() if f.count("|") >= 2]
        result["available"] = available
        print(json.dumps(result))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
