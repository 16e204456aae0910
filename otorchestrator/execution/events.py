"""Pure parsing of ansible-runner events into TaskEvents and PhaseResults (no I/O, no ansible_runner import).

Where the roles' results arrive (measured with ansible-core 2.19 / ansible-runner 2.4): ansible-runner's
``playbook_on_stats`` event carries ``event_data.artifact_data = stats.custom['_run']``, i.e. ONLY the
custom stats with ``per_host: false``; ``per_host: true`` data never reaches the event. Every role therefore
reports once, through ot_common's action plugin ``otorch_report`` (roles/ot_common/action_plugins/):
``otorch_results`` (per_host: false, aggregate: true) = ``{inventory_hostname: otorch_result}``
(contracts.md section 5), which is what is read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from otorchestrator.execution.backend import RunStatus, TaskEvent
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult

RESULTS_KEY = "otorch_results"  # per_host: false, aggregate: true -> {host: otorch_result}
MESSAGE_MAX = 300

_STATUS_BY_EVENT = {
    "runner_on_start": "started",
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


def _excerpt(text: Any, limit: int = MESSAGE_MAX) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def result_message(res: Mapping[str, Any]) -> str:
    """A short, variable-free message from a module result: msg, then the failed loop items' msgs, stderr."""
    parts: list[str] = []
    if res.get("msg"):
        parts.append(str(res["msg"]))
    for item in res.get("results") or ():
        if isinstance(item, Mapping) and (item.get("failed") or item.get("unreachable")) and item.get("msg"):
            parts.append(str(item["msg"]))
    if res.get("stderr"):
        parts.append(str(res["stderr"]))
    return _excerpt(" | ".join(parts))


def task_event(event: Mapping[str, Any], phase: Phase) -> TaskEvent | None:
    """A runner event as a TaskEvent (host-level task events only), or None."""
    status = _STATUS_BY_EVENT.get(str(event.get("event", "")))
    if status is None:
        return None
    data = event.get("event_data") or {}
    host = data.get("host")
    if not host:
        return None
    res = data.get("res") or {}
    message = ""
    if status == "ok" and isinstance(res, Mapping) and res.get("changed"):
        status = "changed"
    if status == "failed" and data.get("ignore_errors"):
        status = "ok"
        message = "failed (ignored)"
    if status in ("failed", "unreachable") and isinstance(res, Mapping):
        message = result_message(res)
    task = str(data.get("task", ""))
    return TaskEvent(host=str(host), phase=phase, task=task, status=status, message=message)


@dataclass
class FailureTracker:
    """Remembers, per host, the last task that failed (not ignored) or was unreachable."""

    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    unreachable: dict[str, tuple[str, str]] = field(default_factory=dict)
    stats: Mapping[str, Any] | None = None

    def feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self.stats = data
            return
        host = data.get("host")
        if not host:
            return
        res = data.get("res") or {}
        msg = result_message(res) if isinstance(res, Mapping) else ""
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            self.failed[str(host)] = (str(data.get("task", "")), msg)
        elif kind == "runner_on_unreachable":
            self.unreachable[str(host)] = (str(data.get("task", "")), msg)


def reported_results(stats_data: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """`{host: otorch_result}` from a playbook_on_stats event_data (empty when absent or malformed)."""
    if not stats_data:
        return {}
    artifact = stats_data.get("artifact_data") or {}
    raw = artifact.get(RESULTS_KEY) if isinstance(artifact, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {str(h): r for h, r in raw.items() if isinstance(r, Mapping)}


def _clean_versions(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _hosts_in(stats_data: Mapping[str, Any] | None, key: str) -> set[str]:
    value = (stats_data or {}).get(key) or {}
    return {str(h) for h, n in value.items() if n} if isinstance(value, Mapping) else set()


def phase_results(
    phase: Phase,
    hosts: Iterable[str],
    tracker: FailureTracker,
    status: RunStatus,
) -> dict[str, PhaseResult]:
    """One PhaseResult per requested host: the role's report when there is one, else a synthesized failure."""
    stats = tracker.stats
    reported = reported_results(stats)
    failures = _hosts_in(stats, "failures")
    dark = _hosts_in(stats, "dark") | set(tracker.unreachable)
    results: dict[str, PhaseResult] = {}
    for host in hosts:
        raw = reported.get(host)
        failed_task, message = tracker.failed.get(host) or tracker.unreachable.get(host) or (None, "")
        mismatch = _identity_mismatch(raw, phase, host) if raw is not None else None
        if mismatch is not None:
            # A report that names another phase or host is not this host's result: never patch it up.
            failed_task, message = "set_stats otorch_result", _excerpt(f"malformed result: {mismatch}")
            raw = None
        if raw is not None:
            try:
                data = dict(raw)
                data["versions_before"] = _clean_versions(raw.get("versions_before"))
                data["versions_after"] = _clean_versions(raw.get("versions_after"))
                data["values"] = raw.get("values") if isinstance(raw.get("values"), Mapping) else {}
                if host in dark:
                    data["outcome"] = HostOutcome.UNREACHABLE
                elif host in failures or host in tracker.failed:
                    data["outcome"] = HostOutcome.FAILED
                else:
                    data["outcome"] = HostOutcome.OK
                ok = bool(raw.get("ok")) and data["outcome"] == HostOutcome.OK
                data["ok"] = ok
                if not ok and failed_task:
                    data["failed_task"] = failed_task
                    data["message"] = message
                results[host] = PhaseResult.model_validate(data)
                continue
            except ValidationError as exc:
                failed_task, message = "set_stats otorch_result", _excerpt(f"malformed result: {exc}")
        results[host] = PhaseResult(
            phase=phase,
            host=host,
            ok=False,
            outcome=_missing_outcome(host, status, dark, failures, tracker),
            failed_task=failed_task,
            message=message,
        )
    return results


def _identity_mismatch(raw: Mapping[str, Any], phase: Phase, host: str) -> str | None:
    """Why a role's report does not belong to (phase, host), or None when it names exactly them."""
    problems = []
    if raw.get("phase") != phase.value:
        problems.append(f"phase {raw.get('phase')!r} (expected {phase.value!r})")
    if raw.get("host") != host:
        problems.append(f"host {raw.get('host')!r} (expected {host!r})")
    return "the role reported " + " and ".join(problems) if problems else None


def _missing_outcome(
    host: str, status: RunStatus, dark: set[str], failures: set[str], tracker: FailureTracker
) -> HostOutcome:
    if host in dark:
        return HostOutcome.UNREACHABLE
    if status == RunStatus.TIMEOUT:
        return HostOutcome.TIMED_OUT
    if status == RunStatus.CANCELED:
        return HostOutcome.CANCELED
    if host in failures or host in tracker.failed:
        return HostOutcome.FAILED
    return HostOutcome.NO_RESULT
