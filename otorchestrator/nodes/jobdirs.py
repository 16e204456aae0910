"""A node job's directory (``<work_dir>/otorch-<run id>-<token>``) and the sweep that runs on the node before
each job (it is also the job's reachability check):

* this run's earlier job directories, and the processes still using them, are ended and removed: a resumed
  run's probe never races a worker the crashed run left on the node;
* any other job directory no process uses is removed: what a job left when the node did not answer at its
  clean-up (another run's live job is kept: its worker's command line names its directory);
* this process's own jobs in flight on the node (`LiveJobs`: two hosts of one zone admitted at different
  times run two jobs at once) are kept: the sweep before the second job never ends the first.

The script never names a directory or pattern literally (the run id is spliced in a variable), so `pkill -f`
cannot match the shell running it."""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

PREFIX = "otorch"
_SAFE = re.compile(r"[^A-Za-z0-9_.]")


def run_tag(run_id: str) -> str:
    return _SAFE.sub("_", run_id) or "none"


def job_dir(work_dir: str, run_id: str, token: str) -> str:
    return f"{work_dir.rstrip('/')}/{PREFIX}-{run_tag(run_id)}-{token}"


def sweep_command(work_dir: str, run_id: str, keep: Iterable[str] = ()) -> str:
    """The sweep; `keep`: job directories (paths or names) of this process's jobs in flight, left alone."""
    base = shlex.quote(work_dir.rstrip("/") or "/")
    tag = shlex.quote(run_tag(run_id))
    kept = shlex.quote(" " + " ".join(sorted(k.rstrip("/").rsplit("/", 1)[-1] for k in keep)) + " ")
    return (
        f'cd {base} 2>/dev/null || exit 0; b=$(pwd); p={PREFIX}; mine="$p-"{tag}-; keep={kept}; '
        'for d in "$p"-*; do [ -d "$d" ] || continue; case "$keep" in *" $d "*) continue ;; esac; '
        'case "$d" in '
        '"$mine"*) pkill -KILL -f -- "$b/$d" ; rm -rf -- "$d" ;; '
        '*) pgrep -f -- "$b/$d" >/dev/null || rm -rf -- "$d" ;; esac; done; '
        'echo "swept $(ls -d "$p"-* 2>/dev/null | wc -l) left"'
    )


class LiveJobs:
    """The job directories of this process's jobs in flight (any node, any thread): what the sweep keeps."""

    def __init__(self) -> None:
        self._dirs: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, wdir: str) -> Iterator[list[str]]:
        """While the job of `wdir` runs; yields every job directory in flight, `wdir` included."""
        with self._lock:
            self._dirs.add(wdir)
            live = sorted(self._dirs)
        try:
            yield live
        finally:
            with self._lock:
                self._dirs.discard(wdir)
