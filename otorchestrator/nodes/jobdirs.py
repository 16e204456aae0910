"""A node job's directory (``<work_dir>/otorch-<run id>-<token>``) and the sweep that runs on the node before
each job (it is also the job's reachability check):

* this run's earlier job directories, and the processes still using them, are ended and removed: a resumed
  run's probe never races a worker the crashed run left on the node;
* any other job directory no process uses is removed: what a job left when the node did not answer at its
  clean-up (another run's live job is kept: its worker's command line names its directory).

The script never names a directory or pattern literally (the run id is spliced in a variable), so `pkill -f`
cannot match the shell running it."""

from __future__ import annotations

import re
import shlex

PREFIX = "otorch"
_SAFE = re.compile(r"[^A-Za-z0-9_.]")


def run_tag(run_id: str) -> str:
    return _SAFE.sub("_", run_id) or "none"


def job_dir(work_dir: str, run_id: str, token: str) -> str:
    return f"{work_dir.rstrip('/')}/{PREFIX}-{run_tag(run_id)}-{token}"


def sweep_command(work_dir: str, run_id: str) -> str:
    base = shlex.quote(work_dir.rstrip("/") or "/")
    tag = shlex.quote(run_tag(run_id))
    return (
        f'cd {base} 2>/dev/null || exit 0; b=$(pwd); p={PREFIX}; mine="$p-"{tag}-; '
        'for d in "$p"-*; do [ -d "$d" ] || continue; case "$d" in '
        '"$mine"*) pkill -KILL -f -- "$b/$d" ; rm -rf -- "$d" ;; '
        '*) pgrep -f -- "$b/$d" >/dev/null || rm -rf -- "$d" ;; esac; done; '
        'echo "swept $(ls -d "$p"-* 2>/dev/null | wc -l) left"'
    )
