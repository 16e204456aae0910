"""`otorch run|resume|status|rollback|abort`: execute a wave plan and act on runs. Thin: gather arguments,
call `otorchestrator.execution.orchestrator`, render.

Exit codes: see EXIT_CODES_HELP below (also in each command's --help).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from otorchestrator.cli._shared import make_backend, no_state_store
from otorchestrator.cli.progress import LiveProgress, summary_table
from otorchestrator.execution.artifacts import Digests, artifact_digests, checked_patches
from otorchestrator.execution.authority import Authority, admissions
from otorchestrator.execution.backend import Backend
from otorchestrator.execution.observer import NullObserver, Observer
from otorchestrator.execution.options import PHASE_TIMEOUT_FLOOR_S, TASK_TIMEOUT_DEFAULT_S, RunOptions
from otorchestrator.execution.orchestrator import Orchestrator, RunRefused, new_run_id
from otorchestrator.execution.orphans import end_orphans, orphan_grace_s
from otorchestrator.execution.secretfiles import channel_problem
from otorchestrator.execution.summary import ExitCode, RunSummary
from otorchestrator.forward.config import AuditConfigError, audit_sinks, find_audit_config
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.intake.inventory import read_inventory
from otorchestrator.intake.planfiles import PlanFileError, load_plan, load_wave_plan
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Catalog, Patch
from otorchestrator.models.run import RunStatus
from otorchestrator.models.waves import Wave, WavePlan
from otorchestrator.store.audit import AuditLog, AuditSink, read_events
from otorchestrator.store.clock import SystemClock
from otorchestrator.store.errors import AuditError, AuditUnavailable, RunLocked, RunNotFound, StoreError
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore
from otorchestrator.trust.signed import sig_path
from otorchestrator.trust.trustfile import TrustError, find_trust

EXIT_CODES_HELP = """\b
Exit codes (run, resume, rollback; status reports the run's code with --exit-code):
  0  the run completed and every host succeeded
  1  unexpected error
  2  usage error
  3  completed, but some host did not succeed (blocked, rolled back, failed, unreachable, skipped)
  4  halted: a wave's failure budget was spent, a wave was declined, or a safety re-check failed
  5  refused, nothing started: run lock held by another run, safety check failed, wave plan changed
  6  operator attention: a host is rollback_failed or needs_reconcile
  7  aborted by an operator
 14  audit unavailable: a record could not be written or (on_failure: halt) forwarded; run halted
"""


# -- shared plumbing -------------------------------------------------------------------------------------


def _fail(message: str, code: ExitCode) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(int(code))


@dataclass
class Session:
    paths: StatePaths
    store: StateStore
    audit: AuditLog
    redactor: Redactor
    orchestrator: Orchestrator
    console: Console


@contextmanager
def session(
    state_dir: Path | None,
    observer: Observer | None = None,
    secrets: Sequence[str] = (),
    backend_factory: Callable[[StatePaths], Backend] | None = None,
    audit_config: Path | None = None,
) -> Iterator[Session]:
    paths = StatePaths.resolve(state_dir, os.environ).ensure()
    redactor = Redactor(secrets)
    sinks = audit_sinks_for(audit_config, paths)
    store = StateStore(paths.db)
    audit = AuditLog(paths.audit, redactor=redactor, head_store=store, sinks=sinks)
    try:
        backend = (backend_factory or make_backend)(paths)
        orchestrator = Orchestrator(backend, store, audit, SystemClock(), observer, redactor)
        yield Session(paths, store, audit, redactor, orchestrator, Console(stderr=False))
    finally:
        audit.close()
        store.close()


def audit_sinks_for(given: Path | None, paths: StatePaths) -> list[AuditSink]:
    """The syslog forwarding and checkpoint signing the site's audit config asks for (docs/audit.md):
    `--audit-config`, else $OTORCH_AUDIT_CONFIG, else /etc/otorchestrator/audit.yml."""

    def warn(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    try:
        return audit_sinks(find_audit_config(given), paths.root, warn)
    except AuditConfigError as exc:
        _fail(str(exc), ExitCode.INPUT_INVALID)
    except AuditUnavailable as exc:
        _fail(f"{exc}\nnothing was started", ExitCode.AUDIT_UNAVAILABLE)


def load_waveplan(path: Path) -> WavePlan:
    try:
        return load_wave_plan(path)
    except PlanFileError as exc:
        raise click.ClickException(str(exc)) from exc


def copy_signed(source: Path, target: Path) -> None:
    """Copy a file and its detached signature (when it has one) for the run's record."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    if sig_path(source).is_file():
        shutil.copyfile(sig_path(source), sig_path(target))


def make_authority(
    inventory: Path,
    read_catalog: Callable[[], Catalog] | None,
    trust_file: Path | None,
    waveplan_file: Path | None,
    plan_file: Path | None,
    key: Path | None,
    approvals_dir: Path | None,
    artifact_check: Digests | None = None,
) -> Authority:
    """What `otorch run|resume` checks against: the trust file, signed plan and wave plan, the inventory
    and catalog as they are when each host starts, the signed approvals (docs/trust.md)."""
    try:
        trust = find_trust(trust_file)
    except TrustError as exc:
        _fail(str(exc), ExitCode.REFUSED)

    def read_inv() -> tuple[dict[str, Asset], str]:
        found = read_inventory([inventory]).inventory
        return found.by_name(), str(inventory)

    return Authority(
        trust=trust, read_inventory=read_inv, read_catalog=read_catalog, waveplan_file=waveplan_file,
        plan_file=plan_file, read_plan=load_plan, operator_key=key, approvals_dir=approvals_dir,
        artifact_digests=artifact_check,
    )  # fmt: skip


def run_dir(paths: StatePaths, run_id: str) -> Path:
    return paths.root / "runs" / run_id


def abort_flag(paths: StatePaths, run_id: str) -> Path:
    return run_dir(paths, run_id) / "abort-requested"


def read_secrets(names: Sequence[str]) -> dict[str, str]:
    """Each `--secret-var NAME` from the environment variable NAME, else a hidden prompt. Never echoed.

    The variable is removed from this process's environment once read: ansible-runner copies the
    environment into its artifacts (`artifacts/<ident>/command`), so an inherited secret would land on disk.
    """
    values: dict[str, str] = {}
    problem = channel_problem() if names else None
    if problem is not None:  # refuse before reading anything: secrets never go to a disk file
        _fail(problem, ExitCode.REFUSED)
    for name in names:
        value = os.environ.pop(name, None)
        if value is None:
            value = click.prompt(f"value of secret variable {name}", hide_input=True, err=True)
        values[name] = value
    return values


def base_vars(paths: StatePaths) -> dict[str, Any]:
    """Variables every phase gets from the controller's side: where verified backups are stored."""
    return {"otorch_backup_store_dir": str(paths.backups.resolve())}


def default_catalog(inventory: Path) -> Path | None:
    base = inventory if inventory.is_dir() else inventory.parent
    candidate = base / "catalog.yml"
    return candidate if candidate.is_file() else None


def default_artifact_dirs(catalog: Path | None, inventory: Path) -> list[Path]:
    """Where the patch artifacts are when `--artifacts` is not given: `artifacts/` (or `repo/`) beside
    the catalog, and for the lab's inventory the lab's signed repository (what its hosts install from)."""
    found: list[Path] = []
    if catalog is not None:
        found += [d for d in (catalog.parent / "artifacts", catalog.parent / "repo") if d.is_dir()]
    try:
        from otorchestrator.lab.config import LabConfig

        cfg = LabConfig.from_env(os.environ)
        base = (inventory if inventory.is_dir() else inventory.parent).resolve()
        repo = cfg.repo_dir / "main"
        if base == cfg.inventory_dir.resolve() and repo.is_dir():
            found.append(repo)
    except (ValueError, OSError):
        pass
    return found


def _confirm(yes: bool, as_json: bool) -> Callable[[Wave], bool] | None:
    if yes:
        return None

    def ask(wave: Wave) -> bool:
        hosts = ", ".join(h.name for h in wave.hosts)
        try:
            return click.confirm(f"Start wave {wave.index} ({wave.name}: {hosts})?", default=False, err=True)
        except click.Abort:
            return False

    return ask


def build_options(
    *,
    operator: str,
    inventory: Path,
    waveplan: WavePlan,
    run_id: str | None,
    check: bool,
    wave: int | None,
    yes: bool,
    as_json: bool,
    catalog: Path | None,
    artifacts: Sequence[Path],
    secrets: dict[str, str],
    paths: StatePaths,
    console: Console,
    waveplan_path: str | None,
    phase_timeout_s: int | None = None,
    task_timeout_s: int | None = None,
    no_artifact_check: bool = False,
    trust_file: Path | None = None,
    plan_file: Path | None = None,
    key: Path | None = None,
    approvals_dir: Path | None = None,
) -> RunOptions:
    catalog_path = catalog or default_catalog(inventory)
    read_catalog: Callable[[], Catalog] | None = None
    if catalog_path is not None:
        found = catalog_path

        def read_catalog() -> Catalog:
            return load_catalog_strict(found)

    where = list(artifacts) or default_artifact_dirs(catalog_path, inventory)
    needs = [p.id for p in checked_patches(waveplan.patches)]
    override: str | None = None
    if no_artifact_check:
        override = f"--no-artifact-check by {operator}: artifact hashes not re-checked ({', '.join(needs)})"
    elif needs and not where:
        _fail(
            f"patches {', '.join(needs)} carry a sha256 but no artifact location is known to re-check it: "
            "pass --artifacts DIR (the repository the hosts install from), or --no-artifact-check "
            "(recorded in the audit log)",
            ExitCode.REFUSED,
        )

    def digests() -> dict[str, str | None]:
        return artifact_digests(waveplan.patches, where)

    def host_digests(patches: Sequence[Patch]) -> dict[str, str | None]:
        return artifact_digests(patches, where)

    def orphans(rid: str) -> None:
        def notify(step: str, pids: list[int]) -> None:
            click.echo(f"{step} {len(pids)} process(es) left by the crashed run: {pids}", err=True)

        left = end_orphans(str(paths.runner / rid), grace_s=orphan_grace_s(), notify=notify)
        if left:
            raise click.ClickException(f"processes of the crashed run survived SIGKILL: {left}")

    flag_holder: dict[str, Path] = {}

    def abort_requested() -> bool:
        flag = flag_holder.get("flag")
        return flag is not None and flag.exists()

    options = RunOptions(
        operator=operator,
        inventory=inventory,
        check_mode=check,
        only_wave=wave,
        extravars=base_vars(paths),
        secret_vars=secrets,
        phase_timeout_s=phase_timeout_s,
        task_timeout_s=task_timeout_s,
        catalog=read_catalog,
        artifact_digests=digests if needs and override is None else None,
        artifact_check_override=override,
        confirm=_confirm(yes, as_json),
        abort_requested=abort_requested,
        wait_for_orphans=orphans,
        run_id=run_id,
        waveplan_path=waveplan_path,
        plan_path=str(plan_file) if plan_file else None,
        authority=make_authority(
            inventory,
            read_catalog,
            trust_file,
            Path(waveplan_path) if waveplan_path else None,
            plan_file,
            key,
            approvals_dir,
            host_digests if needs and override is None else None,  # each host's, just before its install
        ),
    )
    if run_id is not None:
        flag_holder["flag"] = abort_flag(paths, run_id)
    return options


def render(summary: RunSummary, s: Session, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    where = {"state_db": str(s.paths.db), "audit_log": str(s.paths.audit), **(extra or {})}
    if as_json:
        click.echo(json.dumps({**summary.to_json(), **where}, indent=2, default=str))
        return
    s.console.print(summary_table(summary))
    counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items())
    s.console.print(f"[bold]{summary.run.status.value}[/bold]: {counts}")
    if summary.run.status_detail:
        s.console.print(f"  {summary.run.status_detail}")
    trail = (e for _, e in read_events(s.paths.audit) if e.run_id == summary.run.run_id)
    for host, files in admissions(trail).items():  # docs/trust.md
        s.console.print(f"  {host} admitted by signed approval {', '.join(files)}")
    for key, value in where.items():
        s.console.print(f"  {key.replace('_', ' ')}: {value}")


class _PlainProgress(NullObserver):
    """Line-by-line progress when stdout is not a terminal (logs, CI)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def host_moved(self, host: str, wave: int, before: Any, after: Any, detail: str, at: Any) -> None:
        note = f" ({detail[:120]})" if detail and after.terminal else ""
        self.console.print(f"{at:%H:%M:%S} wave {wave} {host}: {after.value}{note}", highlight=False)

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)


def make_observer(as_json: bool) -> tuple[Observer, Any]:
    console = Console()
    if as_json:
        return NullObserver(), nullcontext()
    if console.is_terminal:
        live = LiveProgress(console)
        return live, live
    return _PlainProgress(console), nullcontext()


def _handle(call: Callable[[], RunSummary], run_id: str | None = None) -> RunSummary:
    try:
        return call()
    except AuditError as exc:
        again = f"`otorch resume {run_id}`" if run_id else "`otorch resume RUN`"
        _fail(
            f"audit unavailable: {exc}\nno further host step was started; the run is halted. Hosts caught "
            f"mid-step are re-probed by {again} once the audit log can be written (and forwarded).",
            ExitCode.AUDIT_UNAVAILABLE,
        )
    except RunLocked as exc:
        _fail(str(exc), ExitCode.REFUSED)
    except RunRefused as exc:
        _fail(str(exc), ExitCode.REFUSED)
    except RunNotFound as exc:
        _fail(str(exc), ExitCode.USAGE)
    except StoreError as exc:
        _fail(str(exc), ExitCode.ERROR)


# -- options ---------------------------------------------------------------------------------------------


def _common(f: Any) -> Any:
    f = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="State directory (default: $OTORCH_STATE_DIR or ./.otorch).",
    )(f)
    f = click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout, no live display."
    )(f)
    return f


def _operator(f: Any) -> Any:
    return click.option(
        "--operator",
        required=True,
        envvar="OTORCH_OPERATOR",
        help="Who runs this (recorded in the audit log).",
    )(f)


def _execution(f: Any) -> Any:
    f = click.option(
        "-i", "--inventory", type=click.Path(exists=True, path_type=Path), default=None,
        help="Inventory (default: the wave plan's).",
    )(f)  # fmt: skip
    f = click.option(
        "--catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="Patch catalog re-read to check nothing changed since approval "
        "(default: <inventory>/catalog.yml).",
    )(f)  # fmt: skip
    f = click.option(
        "--artifacts", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
        help="Directory of patch artifacts whose sha256 is re-checked before every wave (repeatable).",
    )(f)  # fmt: skip
    f = click.option(
        "--no-artifact-check", is_flag=True,
        help="Do not re-check the patch artifacts' sha256 (when no artifact location is known); "
        "recorded in the audit log.",
    )(f)  # fmt: skip
    f = click.option(
        "--secret-var", "secret_vars", multiple=True, metavar="NAME",
        help="Pass variable NAME to the playbooks from env var NAME (or a hidden prompt); never logged.",
    )(f)  # fmt: skip
    f = click.option(
        "--phase-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
        help="Longest one phase run may take (default: twice the hosts' expected duration, at least "
        f"{PHASE_TIMEOUT_FLOOR_S} s); the whole run is then ended and its hosts are timed_out.",
    )(f)  # fmt: skip
    f = click.option(
        "--task-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
        help=f"Longest one task may take (default: {TASK_TIMEOUT_DEFAULT_S} s, at most the phase timeout); "
        "its host is then timed_out.",
    )(f)  # fmt: skip
    f = click.option("--yes", "-y", is_flag=True, help="Do not ask before each wave after the first.")(f)
    f = click.option(
        "--trust", "trust_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="Site trust file (default: $OTORCH_TRUST_FILE, else /etc/otorchestrator/trust.yml; "
        "docs/trust.md). With one, the plan, the wave plan and approvals must be signed.",
    )(f)  # fmt: skip
    f = click.option(
        "--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="The signed plan the wave plan was staged from (checked: hash, items, patches).",
    )(f)  # fmt: skip
    f = click.option(
        "--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        envvar="OTORCH_SIGNING_KEY", help="Your SSH key: proves you are --operator when the trust file "
        "lists operators (a .pub file: the key in ssh-agent).",
    )(f)  # fmt: skip
    f = click.option(
        "--approvals", "approvals_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Directory of signed approval files (default: the trust file's approvals_dir).",
    )(f)  # fmt: skip
    f = click.option(
        "--audit-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="Site audit config: syslog forwarding and the checkpoint key (default: $OTORCH_AUDIT_CONFIG, "
        "else /etc/otorchestrator/audit.yml; docs/audit.md).",
    )(f)  # fmt: skip
    return f


# -- commands --------------------------------------------------------------------------------------------


@click.command(epilog=EXIT_CODES_HELP)
@click.argument(
    "waveplan_file", metavar="WAVES_JSON", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--wave", type=int, default=None, help="Run only this wave (its index).")
@click.option("--check", is_flag=True, help="Run the whole chain in Ansible check mode: nothing changes.")
@_execution
@_operator
@_common
def run(
    waveplan_file: Path,
    wave: int | None,
    check: bool,
    inventory: Path | None,
    catalog: Path | None,
    artifacts: tuple[Path, ...],
    secret_vars: tuple[str, ...],
    phase_timeout: int | None,
    task_timeout: int | None,
    no_artifact_check: bool,
    yes: bool,
    trust_file: Path | None,
    plan_file: Path | None,
    key: Path | None,
    approvals_dir: Path | None,
    audit_config: Path | None,
    operator: str,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Run a wave plan wave by wave: diagnostics, backup, install, verify per host; rollback on failure.

    Asks before every wave after the first unless --yes. A wave whose failure budget is spent halts the
    run: `otorch resume RUN` goes on after an operator looked. Exit codes below.

    \b
    Examples:
      otorch run out/waves.json --check                       # the whole chain in check mode
      otorch run out/waves.json --wave 0 --trust site/trust.yml --plan out/plan.json \\
        --key ~/.ssh/id_ed25519 --operator alice              # the canary wave, signed and proven
      otorch run out/waves.json --yes --json > run.json       # unattended, JSON on stdout
    """
    waveplan = load_waveplan(waveplan_file)
    inventory = inventory or (Path(waveplan.inventory) if waveplan.inventory else None)
    if inventory is None or not inventory.exists():
        raise click.UsageError("no inventory: pass --inventory (the wave plan names none that exists)")
    secrets = read_secrets(secret_vars)
    observer, live = make_observer(as_json)
    with session(state_dir, observer, tuple(secrets.values()), audit_config=audit_config) as s:
        run_id = new_run_id(SystemClock().now())
        copy = run_dir(s.paths, run_id) / "waveplan.json"
        copy_signed(waveplan_file, copy)
        plan_copy = None
        if plan_file is not None:
            plan_copy = run_dir(s.paths, run_id) / f"plan{plan_file.suffix or '.json'}"
            copy_signed(plan_file, plan_copy)
        options = build_options(
            operator=operator, inventory=inventory, waveplan=waveplan, run_id=run_id, check=check, wave=wave,
            yes=yes, as_json=as_json, catalog=catalog, artifacts=artifacts, secrets=secrets, paths=s.paths,
            console=s.console, waveplan_path=str(copy), phase_timeout_s=phase_timeout,
            task_timeout_s=task_timeout, no_artifact_check=no_artifact_check, trust_file=trust_file,
            plan_file=plan_copy, key=key, approvals_dir=approvals_dir,
        )  # fmt: skip
        with live:
            summary = _handle(lambda: s.orchestrator.run(waveplan, options), run_id)
        render(summary, s, as_json)
        sys.exit(int(summary.exit_code))


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("run_id", metavar="RUN")
@_execution
@_operator
@_common
def resume(
    run_id: str,
    inventory: Path | None,
    catalog: Path | None,
    artifacts: tuple[Path, ...],
    secret_vars: tuple[str, ...],
    phase_timeout: int | None,
    task_timeout: int | None,
    no_artifact_check: bool,
    yes: bool,
    trust_file: Path | None,
    plan_file: Path | None,
    key: Path | None,
    approvals_dir: Path | None,
    audit_config: Path | None,
    operator: str,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Resume a crashed or halted run. Hosts caught mid-step are re-probed (installed versions, service
    health) before anything acts on them; no host is installed twice. An aborted run is only reconciled.

    \b
    Examples:
      otorch status                        # which run, which hosts, who holds the lock
      otorch resume run-20261202-120000-1a2b --yes
      otorch resume run-20261202-120000-1a2b --trust site/trust.yml --key ~/.ssh/id_ed25519
    """
    secrets = read_secrets(secret_vars)
    observer, live = make_observer(as_json)
    with session(state_dir, observer, tuple(secrets.values()), audit_config=audit_config) as s:
        try:
            record = s.store.get_run(run_id)
        except RunNotFound as exc:
            _fail(str(exc), ExitCode.USAGE)
        if not record.waveplan_path or not Path(record.waveplan_path).is_file():
            _fail(f"run {run_id}: its wave plan copy is missing ({record.waveplan_path})", ExitCode.REFUSED)
        waveplan = load_waveplan(Path(record.waveplan_path))
        inventory = inventory or Path(record.inventory_path or waveplan.inventory or "")
        if not inventory.exists():
            raise click.UsageError(f"inventory {inventory} not found: pass --inventory")
        recorded_plan = Path(record.plan_path) if record.plan_path else None
        options = build_options(
            operator=operator, inventory=inventory, waveplan=waveplan, run_id=run_id, check=record.check_mode,
            wave=None, yes=yes, as_json=as_json, catalog=catalog, artifacts=artifacts, secrets=secrets,
            paths=s.paths, console=s.console, waveplan_path=record.waveplan_path,
            phase_timeout_s=phase_timeout, task_timeout_s=task_timeout, no_artifact_check=no_artifact_check,
            trust_file=trust_file, plan_file=plan_file or recorded_plan, key=key, approvals_dir=approvals_dir,
        )  # fmt: skip
        abort_flag(s.paths, run_id).unlink(missing_ok=True)
        with live:
            summary = _handle(lambda: s.orchestrator.resume(run_id, waveplan, options), run_id)
        render(summary, s, as_json)
        sys.exit(int(summary.exit_code))


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--exit-code", is_flag=True, help="Exit with the run's exit code (see `otorch run --help`).")
@_common
def status(run_id: str | None, exit_code: bool, state_dir: Path | None, as_json: bool) -> None:
    """Show a run's hosts and states (default: the latest run), and who holds the run lock.

    \b
    Examples:
      otorch status
      otorch status run-20261202-120000-1a2b --json | jq '.hosts'
      otorch status --exit-code || echo "the latest run did not fully succeed"
    """
    paths = StatePaths.resolve(state_dir, os.environ)
    if not paths.db.exists():
        raise no_state_store(paths)
    with StateStore(paths.db) as store:
        record = store.get_run(run_id) if run_id else store.latest_run()
        if record is None:
            _fail("no runs in the state store", ExitCode.USAGE)
        summary = RunSummary(record, tuple(store.host_states(record.run_id).values()))
        holder = store.lock_holder()
    lock = holder.describe() if holder else None
    console = Console()
    if as_json:
        click.echo(json.dumps({**summary.to_json(), "lock_holder": lock}, indent=2, default=str))
    else:
        console.print(summary_table(summary))
        counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items())
        console.print(
            f"[bold]{record.status.value}[/bold]: {counts}  (started {record.started_at:%Y-%m-%d %H:%M:%S})"
        )
        if record.status_detail:
            console.print(f"  {record.status_detail}")
        console.print(f"  run lock: {lock or 'free'}")
    if exit_code:
        sys.exit(int(summary.exit_code))


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("run_id", metavar="RUN")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Roll back only this host (repeatable; default: every succeeded host).",
)
@click.option(
    "-i",
    "--inventory",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Inventory (default: the one the run used).",
)
@click.option("--secret-var", "secret_vars", multiple=True, metavar="NAME", help="As for `otorch run`.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_operator
@_common
def rollback(
    run_id: str,
    hosts: tuple[str, ...],
    inventory: Path | None,
    secret_vars: tuple[str, ...],
    yes: bool,
    operator: str,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Roll hosts of a run back to the backup taken before their install.

    \b
    Examples:
      otorch rollback run-20261202-120000-1a2b --host nw-hmi-02
      otorch rollback run-20261202-120000-1a2b --yes --json     # every succeeded host of the run
    """
    secrets = read_secrets(secret_vars)
    observer, live = make_observer(as_json)
    with session(state_dir, observer, tuple(secrets.values())) as s:
        try:
            record = s.store.get_run(run_id)
        except RunNotFound as exc:
            _fail(str(exc), ExitCode.USAGE)
        waveplan = load_waveplan(Path(record.waveplan_path or ""))
        inventory = inventory or Path(record.inventory_path or waveplan.inventory or "")
        what = ", ".join(hosts) or "every succeeded host"
        if not yes and not click.confirm(f"Roll back {what} of run {run_id}?", default=False, err=True):
            _fail("not confirmed", ExitCode.REFUSED)
        options = RunOptions(
            operator=operator, inventory=inventory, extravars=base_vars(s.paths), secret_vars=secrets
        )
        with live:
            summary = _handle(lambda: s.orchestrator.rollback(run_id, waveplan, options, hosts), run_id)
        render(summary, s, as_json)
        failed = any(
            h.host in (hosts or [h.host]) and h.state.value == "rollback_failed" for h in summary.hosts
        )
        sys.exit(int(ExitCode.ATTENTION if failed else ExitCode.OK))


@click.command()
@click.argument("run_id", metavar="RUN")
@_operator
@_common
def abort(run_id: str, operator: str, state_dir: Path | None, as_json: bool) -> None:
    """Abort a run. A live run is asked to stop: it starts no new host, lets installed hosts finish verify
    (and roll back on failure), then ends `aborted`. A run that is not live is marked aborted here.

    \b
    Examples:
      otorch abort run-20261202-120000-1a2b        # from a second terminal while the run is live
      otorch status run-20261202-120000-1a2b       # then: the hosts it left, each in a known state
    """
    with session(state_dir, NullObserver()) as s:
        flag = abort_flag(s.paths, run_id)

        def request() -> None:
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.write_text(f"{operator}\n")

        try:
            result = s.orchestrator.abort(run_id, operator, request)
        except RunNotFound as exc:
            _fail(str(exc), ExitCode.USAGE)
        except RunLocked as exc:
            _fail(str(exc), ExitCode.REFUSED)
        if as_json:
            click.echo(json.dumps({"run_id": run_id, "requested": result.requested, "detail": result.detail}))
        else:
            s.console.print(("abort requested: " if result.requested else "aborted: ") + result.detail)
        status_now = s.store.get_run(run_id).status
        sys.exit(int(ExitCode.OK if result.requested or status_now is RunStatus.ABORTED else ExitCode.ERROR))
