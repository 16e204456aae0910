"""The real execution backend: ansible-runner running the phase playbooks (the ONLY ansible_runner importer).

Per run: a fresh private_data_dir (``<runs_dir>/<run_label>-<phase>-<n>``); an inventory written from the
request's `HostsInventory` (the hosts and their variables, read in-process: execution/inventory.py);
``suppress_env_files=True``; secrets in a 0600 JSON file on /dev/shm (RAM, no disk fallback:
`secretfiles.py`), removed after the run and swept at startup if a killed orchestrator left it (never in
the private_data_dir, on the command line or in the env ansible-runner writes to artifacts/command); one
ssh ControlPath dir per run, kept across the run's jobs (a host's connection is opened once, not once per
phase: each new connection cost ~0.24 s and a key exchange on both ends, measured on the lab; a job outside a
run, run_id "", gets its own, closed after it, as the lab tests reset hosts between jobs); after each job a
sweep of every process of that job (each carries ``OTORCH_RUN_TOKEN`` in its environment) except the run's
ssh ControlPersist masters, which `close()` ends (called at process exit; they also end after their
ControlPersist idle time). Every process also carries ``OTORCH_RUN_ID``: `end_orphans(run_id)` finds what a
crashed run left by it, masters included. A task ended by the per-task timeout makes its host `timed_out`.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner.interface

from otorchestrator.execution.backend import (
    BackupStore,
    HostsInventory,
    Notify,
    PhaseOutcome,
    PhaseRequest,
    RunStatus,
    TaskEvent,
)
from otorchestrator.execution.events import FailureTracker, phase_results, task_event
from otorchestrator.execution.jobenv import (
    choose_config,
    job_env,
    run_settings,
    site_config_file,
    transport_env,
)
from otorchestrator.execution.orphans import RUN_ID_ENV, processes_with_env
from otorchestrator.execution.orphans import end_orphans as end_run_processes
from otorchestrator.execution.secretfiles import SHM_DIR, sweep_stale_secret_files, write_secret_file
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.resources import AnsibleContent, ansible_content

TOKEN_ENV = "OTORCH_RUN_TOKEN"
_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


class AnsibleRunnerBackend:
    """Backend protocol (execution/backend.py) on top of ansible-runner.

    `state`: a StatePaths (``.root``, ``.backups``) or a directory; runs go under ``<root>/runner``.
    `content`: the playbooks, roles and ansible.cfg to run (resources.py; default: `ansible_content()`,
    package data of the wheel or the checkout); `project_dir` is a shorthand for content in that directory.
    `backups`: ``<root>/backups`` (StatePaths ``.backups``), every phase's ``otorch_backup_store_dir``.
    """

    def __init__(
        self,
        state: Any,
        project_dir: Path | None = None,
        runs_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        shm_dir: Path | None = None,
        content: AnsibleContent | None = None,
    ) -> None:
        root = Path(state) if isinstance(state, str | os.PathLike) else Path(state.root)
        if content is None:
            explicit = None if project_dir is None else AnsibleContent(project_dir.resolve(), "env")
            content = explicit or ansible_content()
        self.content = content
        self.project_dir = content.root
        self.runs_dir = (runs_dir or root / "runner").resolve()
        backups = None if isinstance(state, str | os.PathLike) else getattr(state, "backups", None)
        self.backups = BackupStore.local(Path(backups if backups is not None else root / "backups"))
        self.extra_env = dict(extra_env or {})
        self._counter = itertools.count(1)
        self.shm_dir = shm_dir or SHM_DIR
        # secret files left by an orchestrator killed with -9 (their owner is dead): gone before we start
        self.swept_secret_files = sweep_stale_secret_files(self.shm_dir)
        self._control_dirs: dict[str, Path] = {}  # run id -> its ssh ControlPath dir (kept masters)
        self._control_lock = threading.Lock()
        atexit.register(self.close)

    # ---------------------------------------------------------------- public
    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome:
        if not isinstance(request.inventory, HostsInventory):
            ref = request.inventory.ref
            raise ValueError(f"backend ansible-runner cannot resolve the inventory reference {ref!r}")
        pdd = self._private_dir(request)
        token = secrets.token_hex(12)
        # a run's jobs share its masters; a job outside a run (run_id "") gets its own, closed after it
        kept = bool(request.run_id)
        cp_dir = self._control_dir(request.run_id) if kept else Path(tempfile.mkdtemp(prefix="otcp-"))
        env = self._env(request, token, cp_dir)
        (pdd / "inventory").mkdir(parents=True)
        inventory = pdd / "inventory" / "hosts.json"
        document = job_inventory(request.inventory, request.hosts)
        inventory.write_text(json.dumps(document, indent=1, sort_keys=True))
        inventory.chmod(0o600)

        extravars = {**dict(request.extravars), "otorch_backup_store_dir": self.backups.location}
        tracker = FailureTracker()
        timeouts = TaskTimeouts()

        def handle(event: dict[str, Any]) -> bool:
            feed_event(event, request.phase, tracker, timeouts, on_event)
            return True

        secret_file = self._secret_file(request.secret_vars)
        args = ["--check"] if request.check_mode else []
        if secret_file is not None:
            args += ["-e", f"@{secret_file}"]
        try:
            runner = ansible_runner.interface.init_runner(
                private_data_dir=str(pdd),
                project_dir=str(self.project_dir),
                playbook=self.content.playbook(request.phase.value),
                inventory=str(inventory),
                extravars=extravars,
                cmdline=" ".join(args) or None,
                envvars=env,
                suppress_env_files=True,
                quiet=True,
                timeout=request.timeout_s,
                event_handler=handle,
                cancel_callback=cancel if cancel is not None else (lambda: False),
                ident="run",
                rotate_artifacts=0,
            )
            # ansible-runner seeds the job's env with the whole process env and writes it to
            # artifacts/run/command: keep only what the job needs, so no inherited secret reaches disk.
            runner.config.env = job_env(runner.config.env, env, os.environ)
            runner.run()
            status = runner_status(runner.status)
            rc = runner.rc
        finally:
            if secret_file is not None:
                secret_file.unlink(missing_ok=True)
            self._sweep(token, cp_dir if kept else None)
            if not kept:
                _end_control_dir(cp_dir)
        results = timeouts.apply(phase_results(request.phase, request.hosts, tracker, status))
        return PhaseOutcome(
            phase=request.phase, status=status, rc=rc, results=results, artifact_dir=pdd / "artifacts" / "run"
        )

    def end_orphans(self, run_id: str, grace_s: float = 30.0, notify: Notify | None = None) -> list[str]:
        """After a crash: end the processes of `run_id`'s jobs (grace, SIGTERM, SIGKILL); the survivors."""
        return end_run_processes(run_id, grace_s=grace_s, notify=notify)

    def close(self) -> None:
        """End the ssh masters this backend kept for its runs' connections and remove their directories."""
        with self._control_lock:
            dirs, self._control_dirs = list(self._control_dirs.values()), {}
        for cp_dir in dirs:
            _end_control_dir(cp_dir)

    # --------------------------------------------------------------- helpers
    def _control_dir(self, run_id: str) -> Path:
        """The run's ssh ControlPath directory (0700, made on its first job): its jobs share the masters."""
        with self._control_lock:
            cp_dir = self._control_dirs.get(run_id)
            if cp_dir is None or not cp_dir.is_dir():
                cp_dir = self._control_dirs[run_id] = Path(tempfile.mkdtemp(prefix="otcp-"))
            return cp_dir

    def _private_dir(self, request: PhaseRequest) -> Path:
        return new_private_dir(self.runs_dir, request, self._counter)

    def _env(self, request: PhaseRequest, token: str, cp_dir: Path) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        # the site's ansible.cfg (as ansible-playbook started here finds it), else the project's; the
        # settings the run overrides are jobenv.RUN_OVERRIDES
        config = choose_config(self.project_dir, site_config_file())
        env = {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
            **run_settings(config, self.project_dir, os.environ),
            "ANSIBLE_TASK_TIMEOUT": str(request.task_timeout_s),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir),
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_CHECK_MODE_MARKERS": "True",
            TOKEN_ENV: token,
            **transport_env(request.transport, os.environ),
        }
        if request.run_id:
            env[RUN_ID_ENV] = request.run_id
        for name in ("OTORCH_LAB_PORT_OFFSET", "OTORCH_LAB_NAME", "HOME"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(self.extra_env)
        return env

    def _secret_file(self, secret_vars: Mapping[str, str]) -> Path | None:
        """Secrets as a 0600 JSON file in RAM (/dev/shm tmpfs), removed right after the run: never in the
        private_data_dir, never on a command line, never in the env written to artifacts/command, and
        never on disk (no RAM filesystem: `SecretChannelUnavailable`)."""
        if not secret_vars:
            return None
        return write_secret_file(secret_vars, self.shm_dir)

    def _sweep(self, token: str, cp_dir: Path | None) -> None:
        """Kill every process of this job that outlived it, except the run's ssh masters in `cp_dir`."""

        def leftovers() -> list[int]:
            pids = processes_with_env(TOKEN_ENV, token)
            return [p for p in pids if cp_dir is None or not is_master_of(p, cp_dir)]

        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = leftovers()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and leftovers():
                time.sleep(0.1)


def is_master_of(pid: int, cp_dir: Path, proc: Path = Path("/proc")) -> bool:
    """`pid` is an ssh ControlPersist master of a socket in `cp_dir` (its title: ``ssh: <socket> [mux]``)."""
    try:
        title = (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return title.startswith(f"ssh: {cp_dir}/") and title.rstrip().endswith("[mux]")


def _end_control_dir(cp_dir: Path) -> None:
    """Tell the ssh master of every socket in `cp_dir` to exit, then remove the directory."""
    for sock in cp_dir.iterdir() if cp_dir.is_dir() else ():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "otorch-run"],
                capture_output=True,
                timeout=10,
                check=False,
            )
    shutil.rmtree(cp_dir, ignore_errors=True)


@dataclass
class TaskTimeouts:
    """Hosts whose task was ended by the per-task timeout (ANSIBLE_TASK_TIMEOUT / `timeout:`).

    ansible-core reports it as a failed task whose result carries ``timedout: {frame, period}``; such a
    host is `timed_out`, not `failed`."""

    hosts: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    def feed(self, event: Mapping[str, Any]) -> bool:
        """True when this event is a task ended by its timeout."""
        if event.get("event") != "runner_on_failed":
            return False
        data = event.get("event_data") or {}
        res = data.get("res") or {}
        if not isinstance(res, Mapping) or not res.get("timedout") or data.get("ignore_errors"):
            return False
        info = res.get("timedout")
        period = info.get("period") if isinstance(info, Mapping) else None
        self.hosts[str(data.get("host", ""))] = (
            str(data.get("task", "")),
            int(period) if isinstance(period, int | float) else None,
        )
        return True

    def apply(self, results: Mapping[str, PhaseResult]) -> dict[str, PhaseResult]:
        out = dict(results)
        for host, (task, period) in self.hosts.items():
            result = out.get(host)
            if result is None or result.outcome not in (HostOutcome.FAILED, HostOutcome.NO_RESULT):
                continue
            after = f" after {period} s" if period is not None else ""
            out[host] = result.model_copy(
                update={
                    "ok": False,
                    "outcome": HostOutcome.TIMED_OUT,
                    "failed_task": task or result.failed_task,
                    "message": f"task timed out{after} (per-task timeout)",
                }
            )
        return out


def feed_event(
    event: dict[str, Any],
    phase: Phase,
    tracker: FailureTracker,
    timeouts: TaskTimeouts,
    on_event: Callable[[TaskEvent], None] | None,
) -> None:
    """One ansible-runner event into the phase's failure tracker and task timeouts, and on to `on_event` as a
    TaskEvent (a task that ran past its timeout reported as ``timed_out``)."""
    tracker.feed(event)
    timed_out = timeouts.feed(event)
    if on_event is not None:
        te = task_event(event, phase)
        if te is not None:
            on_event(te.model_copy(update={"status": "timed_out"}) if timed_out else te)


def job_inventory(
    inventory: HostsInventory, hosts: Collection[str], hostvars: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A job's inventory document: `hosts` with their variables (`hostvars` when a backend rewrote them)
    and the groups they are in (membership only: group variables are already in each host's)."""
    missing = [h for h in hosts if h not in inventory.hosts]
    if missing:
        raise ValueError(f"hosts not in the phase inventory ({inventory.source}): {', '.join(missing)}")
    chosen = set(hosts)
    variables = {h: dict((hostvars or inventory.hosts)[h]) for h in hosts}
    children = {
        group: {"hosts": {h: None for h in members if h in chosen}}
        for group, members in inventory.groups.items()
        if any(h in chosen for h in members)
    }
    return {"all": {"hosts": variables, "children": children}}


def new_private_dir(runs_dir: Path, request: PhaseRequest, counter: Iterator[int], suffix: str = "") -> Path:
    """A new, private (0700) job directory ``<label>-<phase>-<n>[-<suffix>]`` under `runs_dir`: the one naming
    every backend's job directories follow (orphan clean-up and the report find a run's jobs by it)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    label = _LABEL.sub("-", request.run_label or "run").strip("-") or "run"
    tail = f"-{suffix}" if suffix else ""
    while True:
        pdd = runs_dir / f"{label}-{request.phase.value}-{next(counter)}{tail}"
        try:
            pdd.mkdir(mode=0o700)
            return pdd
        except FileExistsError:
            continue


def runner_status(value: str | None) -> RunStatus:
    """ansible-runner's final status as ours (anything unknown or missing counts as failed)."""
    try:
        return RunStatus(value or "failed")
    except ValueError:
        return RunStatus.FAILED
