"""The demo's audit part: a loopback rsyslog receiving every record of the run, checkpoints signed with a
lab key, and at the end the checkpoints verified and the syslog copy compared (`audit verify --against`)."""

from __future__ import annotations

import atexit
from pathlib import Path

import click
import yaml
from rich.console import Console

from otorchestrator.forward import loopback
from otorchestrator.store.audit_report import audit_report
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore
from otorchestrator.trust.lab import AUDIT, LabTrust
from otorchestrator.trust.trustfile import load_trust


def start_copy(out: Path, console: Console) -> loopback.LoopbackSyslog | None:
    """A loopback rsyslogd for the run (stopped when the demo exits), or None without rsyslogd."""
    if loopback.rsyslogd_binary() is None:
        console.print("  [yellow]rsyslogd not installed: no syslog copy (scripts/bootstrap.sh installs it)")
        return None
    try:
        copy = loopback.start(out / "syslog")
    except RuntimeError as exc:
        raise click.ClickException(f"the demo's loopback syslog did not start: {exc}") from exc
    atexit.register(copy.stop)
    console.print(f"  syslog copy: rsyslogd on 127.0.0.1:{copy.port} writing {copy.copy}")
    return copy


def write_config(out: Path, copy: loopback.LoopbackSyslog | None, trust: LabTrust) -> Path:
    """The run's audit config: forward to the loopback rsyslog (halt on failure), sign checkpoints with the
    lab key (kept under .lab/trust, apart from the state directory)."""
    signer = AUDIT  # lab-audit: the trust file's audit signer
    spec: dict[str, object] = {
        "schema_version": 1,
        "checkpoints": {"key": str(trust.keys[signer]), "signer": signer},
    }
    if copy is not None:
        spec["syslog"] = {"host": "127.0.0.1", "port": copy.port, "on_failure": "halt"}
    path = out / "audit.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def show(
    console: Console,
    paths: StatePaths,
    store: StateStore,
    trust_file: Path,
    copy: loopback.LoopbackSyslog | None,
) -> bool:
    """Print the checkpoints, the store cross-check and the syslog copy; True when they verify."""
    head = store.audit_head()
    if copy is not None and head is not None and not copy.wait_for(head.seq):
        console.print(f"  [red]the syslog copy did not reach seq {head.seq}[/red]")
    against = copy.copy if copy is not None and copy.copy.exists() else None
    report = audit_report(paths.audit, store, load_trust(trust_file), against=against)
    k = report.checkpoints
    if k.ok and k.verified:
        console.print(
            f"  audit checkpoints verified: {k.verified} signature(s) by {', '.join(k.signers)}, "
            f"covering seq {k.covered_seq} of {k.last_seq}"
        )
    else:
        console.print(f"  [red]audit checkpoints NOT verified ({k.verified} of {k.found})[/red]")
    if report.store is not None:
        verdict = "match" if report.store.ok else "[red]DO NOT match[/red]"
        console.print(f"  audit log and store: {report.store.transitions} transitions {verdict}")
    if report.against is not None:
        a = report.against
        verdict = "matches the log" if a.ok else "[red]DOES NOT match the log[/red]"
        console.print(
            f"  otorch audit verify --against {a.copy}: {a.records} records "
            f"(seq {a.first_seq}..{a.last_seq}) {verdict}"
        )
    for problem in report.problems()[:10]:
        console.print(f"  [red]{problem}[/red]")
    return report.checkpoints.ok and bool(k.verified) and (report.against is None or report.against.ok)
