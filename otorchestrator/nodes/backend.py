"""The nodes backend (``OTORCH_BACKEND=nodes``): each zone's share of a phase runs on the zone's execution
node over ansible-runner's streaming protocol, as AWX's execution nodes do (there over Receptor, here
over SSH):

    controller: transmit(private data dir, kwargs)  --ssh-->  node: ansible-runner worker --delete
    controller: process(events, artifacts)          <--ssh--

* the job holds only that zone's hosts (inventory), the phase playbook, roles and collections, the extra
  vars; the secrets travel only in the stream (kwargs) and the SSH key for the zone hosts as
  ansible-runner's ``ssh_key`` (held by ssh-agent on the node); the worker unpacks into the node's
  ``work_dir`` (default /dev/shm: RAM) and removes it after the job (``--delete``);
* events reach `on_event` live, parsed by the local backend's own code (execution/events.py), so the
  journal reads the same; an event for a host outside the job's zone, or a stream that is not the protocol,
  is refused: the job is stopped and its hosts are reported `unreachable` with the reason (the engine
  re-probes them on resume);
* zones of one phase run in parallel, one thread per node; a node that does not answer makes its zone's
  hosts `unreachable` ("execution node ... unreachable"), the other zones go on;
* the SSH link or the worker lost mid-phase: the hosts are lost with that reason (the engine makes those
  caught in an install, verify or rollback `needs_reconcile`: execution/reconcile.py), the remote job is
  killed and its directory removed when the node answers; `otorch resume` re-probes them through the node;
* push mode: the install's artifacts travel in the job and are checked on the node (nodes/push.py);
* backups made on the node come back in the artifacts stream into the controller's backup store; a
  rollback's backup goes to the node inside the job.

Zones without a node run directly (the local backend), unless nodes.yml requires a node for them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ansible_runner.streaming import Processor, Transmitter

from otorchestrator.execution.ansible import (
    AnsibleRunnerBackend,
    TaskTimeouts,
    feed_event,
    new_private_dir,
    runner_status,
)
from otorchestrator.execution.backend import (
    BackupStore,
    HostsInventory,
    Notify,
    PhaseOutcome,
    PhaseRequest,
    RunStatus,
    TaskEvent,
)
from otorchestrator.execution.events import FailureTracker, phase_results
from otorchestrator.execution.reconcile import NOT_STARTED
from otorchestrator.models.results import HostOutcome, PhaseResult
from otorchestrator.nodes import inventory as ninv
from otorchestrator.nodes import jobfiles, push, ssh
from otorchestrator.nodes.bootstrap import venv_of
from otorchestrator.nodes.config import Node, NodesConfig, load_nodes, nodes_file
from otorchestrator.nodes.jobdirs import LiveJobs, job_dir, sweep_command
from otorchestrator.resources import ansible_content

_ORDER = [RunStatus.SUCCESSFUL, RunStatus.CANCELED, RunStatus.TIMEOUT, RunStatus.FAILED]


class NodesBackend:
    """Backend protocol (execution/backend.py) through the zones' execution nodes (nodes.yml)."""

    # a job returns when every zone's share is done: the engine gives it jobs of one zone each, so a slow
    # node never holds the hosts of another zone (execution/hostchain.py)
    one_zone_per_job = True

    def __init__(self, state: Any, nodes: NodesConfig | None = None) -> None:
        root = Path(state) if isinstance(state, str | os.PathLike) else Path(state.root)
        self.runs_dir = (root / "runner").resolve()
        backups = None if isinstance(state, str | os.PathLike) else getattr(state, "backups", None)
        self._backup_dir = Path(backups if backups is not None else root / "backups").resolve()
        self.backups = BackupStore.local(self._backup_dir)
        self._state = state
        self._nodes = nodes
        self._direct: AnsibleRunnerBackend | None = None
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._live = LiveJobs()
        self.content = ansible_content()

    # ---------------------------------------------------------------- public
    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome:
        if not isinstance(request.inventory, HostsInventory):
            ref = request.inventory.ref
            raise ValueError(f"backend nodes cannot resolve the inventory reference {ref!r}")
        if request.transport != "ssh":
            raise ValueError(f"backend nodes: transport {request.transport!r} is not supported")
        inventory = request.inventory
        data = inventory.listing()
        config = self._config(Path(inventory.source))
        jobs: dict[str, list[str]] = {}
        direct: list[str] = []
        results: dict[str, PhaseResult] = {}
        for zone, hosts in ninv.zones(data, request.hosts).items():
            node = config.node_for(zone)
            if node is not None:
                jobs[node.name] = jobs.get(node.name, []) + hosts
            elif config.requires(zone):
                for h in hosts:
                    why = f"zone {zone!r} requires an execution node; none serves it"
                    results[h] = _lost(request, h, why, started=False)
            else:
                direct += hosts
        unknown = [h for h in request.hosts if h not in ninv.all_hosts(data)]
        if unknown:
            raise ValueError(f"hosts not in inventory {inventory.source}: {', '.join(unknown)}")

        def safe_event(event: TaskEvent) -> None:
            if on_event is not None:
                with self._lock:
                    on_event(event)

        statuses: list[RunStatus] = []
        by_name = {n.name: n for n in config.nodes}
        with ThreadPoolExecutor(max_workers=len(jobs) + 1) as pool:
            futures = [
                pool.submit(self._job, config, by_name[name], hosts, request, safe_event, cancel)
                for name, hosts in jobs.items()
            ]
            if direct:
                sub = request.model_copy(update={"hosts": tuple(direct)})
                futures.append(pool.submit(self._direct_backend().run_phase, sub, safe_event, cancel))
            for future in futures:
                outcome = future.result()
                statuses.append(outcome.status)
                results.update(outcome.results)
        status = max(statuses, key=_ORDER.index) if statuses else RunStatus.FAILED
        return PhaseOutcome(phase=request.phase, status=status, rc=None, results=results)

    # ---------------------------------------------------------------- one zone job
    def _job(
        self,
        config: NodesConfig,
        node: Node,
        hosts: list[str],
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None],
        cancel: Callable[[], bool] | None,
    ) -> PhaseOutcome:
        wdir = job_dir(node.work_dir, request.run_id, secrets.token_hex(8))
        with self._live.holding(wdir) as live:  # the sweep keeps this run's other jobs in flight
            return self._zone_job(config, node, hosts, request, on_event, cancel, wdir, live)

    def _zone_job(
        self,
        config: NodesConfig,
        node: Node,
        hosts: list[str],
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None],
        cancel: Callable[[], bool] | None,
        wdir: str,
        live: list[str],
    ) -> PhaseOutcome:
        phase = request.phase
        try:  # the sweep is the reachability check too (nodes/jobdirs.py)
            ssh.run(
                config,
                node,
                sweep_command(node.work_dir, request.run_id, keep=live),
                timeout=node.connect_timeout_s + 10,
            )
        except ssh.NodeUnreachable as exc:
            why = f"execution node {node.name} unreachable: {exc}"
            res = {h: _lost(request, h, why, started=False) for h in hosts}
            return _outcome(request, RunStatus.FAILED, res)
        pdd = self._private_dir(request, node)
        assert isinstance(request.inventory, HostsInventory)  # checked by run_phase
        key = jobfiles.build(self.content, pdd, hosts, request.inventory)
        store = f"{wdir}/artifacts/run/backups"
        jobfiles.seed_backups(self._backup_dir, pdd, hosts, request.extravars)
        extravars = {**dict(request.extravars), **dict(request.secret_vars), "otorch_backup_store_dir": store}
        if push.ship(phase, hosts, request.extravars, request.inventory, pdd / "job" / "project") is not None:
            extravars["otorch_artifact_dir"] = f"{wdir}/project/{push.SUBDIR}"  # shipped in the job
        envvars = {
            "ANSIBLE_CONFIG": f"{wdir}/project/ansible.cfg",
            "ANSIBLE_TASK_TIMEOUT": str(request.task_timeout_s),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": f"{wdir}/cp",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_CHECK_MODE_MARKERS": "True",
        }
        remote = (
            f"PATH={venv_of(node)}/bin:$PATH exec {node.runner} worker --private-data-dir={wdir} --delete"
        )
        tracker, timeouts = FailureTracker(), TaskTimeouts()
        state: dict[str, str] = {}
        tmp = pdd / "ssh"
        proc = subprocess.Popen(
            ssh.ssh_argv(config, node, tmp, remote),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ssh.clean_env(),
        )
        assert proc.stdin is not None and proc.stdout is not None
        allowed = set(hosts)

        def guard(event: dict[str, Any]) -> bool:
            host = (event.get("event_data") or {}).get("host")
            if host and host not in allowed:
                state.setdefault(
                    "refused", f"stream from {node.name} refused: an event for {host}, outside its zone"
                )
                proc.kill()
                return False
            if "refused" in state:
                return False
            feed_event(event, phase, tracker, timeouts, on_event)
            return True

        def status_handler(status: dict[str, Any], runner_config: Any = None) -> None:
            state["status"] = str(status.get("status", ""))
            if status.get("status") == "error":
                explanation = str(status.get("job_explanation", ""))[:260]
                state.setdefault("error", f"stream from {node.name} ended: {explanation}")

        stop = threading.Event()

        def watchdog() -> None:
            deadline = time.monotonic() + request.timeout_s + 120
            while not stop.wait(0.5):
                if cancel is not None and cancel():
                    state.setdefault("canceled", "canceled by the operator")
                    proc.kill()
                    return
                if time.monotonic() > deadline:
                    state.setdefault("error", f"no end of stream from {node.name} within the phase timeout")
                    proc.kill()
                    return

        watcher = threading.Thread(target=watchdog, daemon=True)
        watcher.start()
        try:
            Transmitter(
                _output=proc.stdin,
                private_data_dir=str(pdd / "job"),
                playbook=f"playbooks/{phase.value}.yml",
                inventory="inventory/hosts.json",
                extravars=extravars,
                envvars=envvars,
                cmdline="--check" if request.check_mode else None,
                ssh_key=key,
                ident="run",
                forks=node.forks,
                timeout=request.timeout_s,
                suppress_env_files=True,
            ).run()
            proc.stdin.close()
        except (BrokenPipeError, OSError) as exc:
            state.setdefault("error", f"link to {node.name} lost while sending the job: {exc}")
        try:
            Processor(
                _input=proc.stdout,
                private_data_dir=str(pdd / "job"),
                event_handler=guard,
                status_handler=status_handler,
                ident="run",
                quiet=True,
            ).run()
        except Exception as exc:  # a stream that is not the protocol (bad zip, bad framing)
            state.setdefault("error", f"malformed stream from {node.name}: {type(exc).__name__}: {exc}"[:300])
        stop.set()
        proc.kill() if proc.poll() is None and state.keys() & {"refused", "error", "canceled"} else None
        rc = proc.wait()
        state["rc"] = str(rc)
        stderr = (proc.stderr.read() if proc.stderr else b"").decode("utf-8", "replace").strip()
        shutil.rmtree(tmp, ignore_errors=True)
        for content in ("playbooks", "roles", "collections"):  # sent; the package holds them (1 MB a job)
            shutil.rmtree(pdd / "job" / "project" / content, ignore_errors=True)
        problem = state.get("refused") or state.get("error")
        if problem and stderr:
            problem += f" (ssh: {stderr[-200:]})"
        if problem:
            problem += f" [rc {rc}]"
        if problem is None and state.get("status") not in ("successful", "failed", "timeout", "canceled"):
            problem = (
                f"link to {node.name} lost mid-phase (ssh rc {rc}{': ' + stderr[-200:] if stderr else ''})"
            )
        if "canceled" in state:
            self._clean_remote(config, node, wdir)
            res = {h: _lost(request, h, "canceled", HostOutcome.CANCELED) for h in hosts}
            return _outcome(request, RunStatus.CANCELED, res)
        if problem is not None:
            self._clean_remote(config, node, wdir)
            return _outcome(request, RunStatus.FAILED, {h: _lost(request, h, problem) for h in hosts})
        status = runner_status(state.get("status"))
        jobfiles.collect_backups(self._backup_dir, pdd, hosts)
        results = timeouts.apply(phase_results(phase, hosts, tracker, status))
        return PhaseOutcome(
            phase=phase, status=status, rc=rc, results=results, artifact_dir=pdd / "job" / "artifacts" / "run"
        )

    # --------------------------------------------------------------- helpers
    def _config(self, source: Path) -> NodesConfig:
        if self._nodes is None:
            path = nodes_file(source)
            self._nodes = load_nodes(path) if path is not None else NodesConfig()
        return self._nodes

    def _direct_backend(self) -> AnsibleRunnerBackend:
        if self._direct is None:
            self._direct = AnsibleRunnerBackend(self._state)
        return self._direct

    def _private_dir(self, request: PhaseRequest, node: Node) -> Path:
        return new_private_dir(self.runs_dir, request, self._counter, suffix=node.name)

    def _clean_remote(self, config: NodesConfig, node: Node, wdir: str) -> None:
        """Remove the job's directory on the node and kill what is left of the job (best effort: what a node
        that does not answer keeps is swept before the next job on it, nodes/jobdirs.py)."""
        with contextlib.suppress(ssh.NodeUnreachable):
            ssh.run(
                config,
                node,
                f"rm -rf -- {wdir}; pkill -KILL -f -- '[{wdir[0]}]{wdir[1:]}'",
                timeout=node.connect_timeout_s + 10,
            )

    def end_orphans(self, run_id: str, grace_s: float = 30.0, notify: Notify | None = None) -> list[str]:
        """The direct jobs' orphans (the local backend's); what a run left on a node is ended by the sweep
        before the run's next job there (a resumed run's first probe), nodes/jobdirs.py."""
        return self._direct_backend().end_orphans(run_id, grace_s, notify)


def _lost(
    request: PhaseRequest,
    host: str,
    message: str,
    outcome: HostOutcome = HostOutcome.UNREACHABLE,
    started: bool = True,
) -> PhaseResult:
    """A host the job lost; `started=False`: the job never reached it (nothing changed there)."""
    values = {} if started else {NOT_STARTED: True}
    data = {"phase": request.phase, "host": host, "ok": False, "outcome": outcome, "message": message[:300]}
    return PhaseResult.model_validate({**data, "values": values})


def _outcome(request: PhaseRequest, status: RunStatus, results: dict[str, PhaseResult]) -> PhaseOutcome:
    return PhaseOutcome(phase=request.phase, status=status, rc=None, results=results)
