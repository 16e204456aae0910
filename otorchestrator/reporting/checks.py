"""One sentence per check the roles report, with its values (pure).

The roles (roles/ot_diagnostics, ot_backup, ot_verify, ot_rollback) name their checks `family:subject`
(`disk_free:/opt/nwc`, `service_running:nwc-gateway`, `config:/etc/nwc/nwc-gateway.conf`) and put the
measured value and the expected one in `value` and `threshold`; these sentences say both. A check of a
family not known here falls back to `text.check_sentence` (name, value, detail, threshold, each once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otorchestrator.models.results import Check, HostOutcome, PhaseResult
from otorchestrator.reporting.text import check_sentence, unique


def show(value: Any) -> str:
    """A value as the reports print it: lists and mappings spelled out, booleans yes/no, None "none"."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {show(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value) or "none"
    return str(value).strip()


def _subject(check: Check) -> str:
    return check.name.split(":", 1)[1] if ":" in check.name else ""


def _disk(c: Check) -> str:
    # the role's detail: "MiB free on /opt/nwc (needs 20 MiB)": the mount point (may differ from the path)
    mount = c.detail.split(" on ", 1)[1].split(" (", 1)[0] if " on " in c.detail else _subject(c)
    mount = mount.split(",", 1)[0].strip() or _subject(c)
    return f"{show(c.value)} MiB free on {mount}, needs {show(c.threshold)} MiB"


def _memory(c: Check) -> str:
    return f"{show(c.value)} MiB memory available, needs {show(c.threshold)} MiB"


def _service(c: Check) -> str:
    text = f"service {_subject(c)} {show(c.value)}"
    return text if c.ok else f"{text}, expected {show(c.threshold)}"


def _port(c: Check) -> str:
    text = f"port {_subject(c)} {show(c.value)}"
    return text if c.ok else f"{text}, expected {show(c.threshold)}"


def _health(c: Check) -> str:
    out = c.detail.strip()
    out = out if len(out) <= 160 else out[:157] + "..."
    text = f"health command of {_subject(c)} exit {show(c.value)}"
    if not c.ok:
        text += f", expected {show(c.threshold)}"
    return f"{text} ({out})" if out else text


def _version(c: Check) -> str:
    text = f"{_subject(c)} {show(c.value)}"
    return text if c.ok else f"{text}, expected {show(c.threshold)}"


def _config(c: Check) -> str:
    now, then = show(c.value), show(c.threshold)
    if c.ok and now == then:
        return f"{_subject(c)} sha256 {now}, equal to the pre-patch backup's"
    return f"{_subject(c)} sha256 {now}, differs from the pre-patch backup's {then}"


def _checksum(c: Check) -> str:
    against = "the manifest's" if "manifest" in c.detail else "the host's"
    if c.ok:
        return f"archive sha256 {show(c.value)} computed on the controller, equal to {against}"
    sha, other = show(c.value), show(c.threshold)
    return f"archive sha256 {sha} computed on the controller, differs from {against} {other}"


def _backup_verified(c: Check) -> str:
    if c.ok:
        return f"backup archive sha256 {show(c.value)} verified against its manifest before the restore"
    return (
        f"backup archive sha256 {show(c.value)} differs from its manifest's {show(c.threshold)}: not restored"
    )


def _extracted(c: Check) -> str:
    if c.ok:
        return "config files extracted from the verified archive, as the manifest lists them"
    return f"config files missing or different after the extraction: {show(c.value)}"


def _readable(c: Check) -> str:
    if isinstance(c.value, int) and not isinstance(c.value, bool):
        text = f"{c.value} of {show(c.threshold)} expected archive members readable"
    else:
        text = f"archive listing exit {show(c.value)}, expected {show(c.threshold)}"
    return f"{text} ({c.detail.strip()})" if c.detail.strip() else text


def _lock(c: Check) -> str:
    return "no dpkg/apt lock held" if c.ok else f"dpkg/apt locks held: {show(c.value)} {c.detail}".strip()


def _listeners(c: Check) -> str:
    return "no new listening TCP port" if c.ok else f"new listening TCP ports: {show(c.value)}"


def _reboot(c: Check) -> str:
    return "no reboot pending" if not c.value else "a reboot is pending (/var/run/reboot-required)"


def _repo(c: Check) -> str:
    return f"repository signature {show(c.value)}" + ("" if c.ok else f" ({c.detail.strip()})")


def _target(c: Check) -> str:
    if c.ok:
        return f"{_subject(c)} {show(c.threshold)} offered by the signed repository"
    return f"{_subject(c)} {show(c.threshold)} not offered by the signed repository (offers {show(c.value)})"


def _recorded(c: Check) -> str:
    return f"versions recorded: {show(c.value)}"


def _archive(c: Check) -> str:
    return f"archive {show(c.value)} created" if c.ok else f"archive not created {c.detail}".strip()


_BY_NAME: dict[str, Callable[[Check], str]] = {
    "memory_available_mb": _memory,
    "checksum_verified": _checksum,
    "backup_verified": _backup_verified,
    "backup_extracted": _extracted,
    "archive_readable": _readable,
    "dpkg_lock_free": _lock,
    "no_new_listeners": _listeners,
    "reboot_not_pending": _reboot,
    "repo_signature": _repo,
    "versions_recorded": _recorded,
    "archive_created": _archive,
}
_BY_FAMILY: dict[str, Callable[[Check], str]] = {
    "disk_free": _disk,
    "service_running": _service,
    "port_listening": _port,
    "health": _health,
    "version": _version,
    "config": _config,
    "target_available": _target,
}


def _known(check: Check) -> Callable[[Check], str] | None:
    family = check.name.split(":", 1)[0]
    return _BY_NAME.get(check.name) or (_BY_FAMILY.get(family) if ":" in check.name else None)


def describe(check: Check) -> str:
    """The check's sentence without its name: "12 MiB free on /opt/nwc, needs 20 MiB"."""
    known = _known(check)
    if known is not None:
        try:
            return known(check)
        except (TypeError, ValueError, IndexError):  # an unexpected value shape: the generic sentence
            pass
    sentence = check_sentence(check)
    return sentence.split(": ", 1)[1] if sentence.startswith(f"{check.name}: ") else sentence


def check_line(check: Check) -> str:
    """ "disk_free:/opt/nwc: 12 MiB free on /opt/nwc, needs 20 MiB"."""
    text = describe(check)
    return text if text == check.name else f"{check.name}: {text}"


def evidence_sentence(check: Check) -> str:
    """A check as an evidence line: the sentence alone for the checks the roles report (it names its
    subject: "service nwc-gateway running"), name and sentence for any other."""
    return describe(check) if _known(check) is not None else check_line(check)


def failure_sentence(result: PhaseResult) -> str:
    """Why a phase failed, in one sentence with the failing checks and their values, each said once:
    "diagnostics failed: 12 MiB free on /opt/nwc, needs 20 MiB"."""
    head = f"{result.phase.value} failed"
    if result.outcome not in (HostOutcome.OK, HostOutcome.FAILED):  # "failed (failed)" says nothing
        head += f" ({result.outcome.value.replace('_', ' ')})"
    reasons = [evidence_sentence(c) for c in result.failed_checks]
    if result.failed_task:
        reasons.append(f"failed task {result.failed_task}")
    if not reasons and result.message:
        reasons.append(result.message.splitlines()[0])
    reasons = [
        r for r in unique(reasons) if r != head and r.removeprefix(f"{result.phase.value} ") != "failed"
    ]
    return f"{head}: {'; '.join(reasons)}" if reasons else head


def rollback_proof(result: PhaseResult) -> str:
    """ "nwc-gateway 1.0.0 (ii); service nwc-gateway running; ...; 1 config file sha256 equal to the
    pre-patch backup's": the restored state, check by check, in one sentence."""
    parts, configs, same = [], 0, 0
    for check in result.checks:
        if check.name.startswith("config:"):
            configs += 1
            same += 1 if check.ok else 0
        elif check.name == "backup_verified" and check.ok:
            parts.append("archive verified against its manifest")  # the sha256 in the line below
        elif check.name == "backup_extracted" and check.ok:
            continue
        elif check.name.startswith("health:") and check.ok:
            parts.append(f"health command of {_subject(check)} exit {show(check.value)}")  # output below
        elif check.ok or not result.ok:
            parts.append(describe(check) if check.ok else check_line(check))
    if configs:
        parts.append(f"{same} of {configs} config file(s) sha256 equal to the pre-patch backup's")
    return "; ".join(parts) if parts else "no checks reported"
