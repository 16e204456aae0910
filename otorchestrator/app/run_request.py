"""What an operator asks of `run` / `resume` (`RunRequest`), and the engine's `RunOptions` built from it:
the catalog and artifacts found when not named, the trust checks (`Authority`), the abort poll, the orphan
clean-up on resume."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otorchestrator.app import artifacts as found
from otorchestrator.app.aborts import abort_poll
from otorchestrator.app.errors import AppError
from otorchestrator.app.session import Caller
from otorchestrator.execution.artifacts import Digests
from otorchestrator.execution.authority import Authority
from otorchestrator.execution.backend import Backend, Transport
from otorchestrator.execution.jobenv import default_transport, transport_problem
from otorchestrator.execution.options import DEFAULT_FORKS, MAX_FORKS, RunOptions
from otorchestrator.execution.orphans import orphan_grace_s
from otorchestrator.execution.secretfiles import channel_problem
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.inventory import read_inventory
from otorchestrator.intake.planfiles import PlanFileError, load_plan, load_wave_plan
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.paths import StatePaths
from otorchestrator.trust.signed import sig_path
from otorchestrator.trust.trustfile import TrustError, find_trust


@dataclass(frozen=True)
class RunRequest:
    """`otorch run` / `resume`'s options as values. None/empty: the default (the wave plan's inventory,
    `catalog.yml` beside it, the artifact locations of `app.artifacts`, the site's trust file)."""

    operator: str
    inventory: Path | None = None
    catalog: Path | None = None
    artifacts: Sequence[Path] = ()
    no_artifact_check: bool = False
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    phase_timeout_s: int | None = None
    task_timeout_s: int | None = None
    trust_file: Path | None = None
    plan_file: Path | None = None
    key: Path | None = None
    approvals_dir: Path | None = None
    check: bool = False  # run only: the whole chain in check mode (a resumed run keeps its own)
    wave: int | None = None  # run only: this wave's hosts only
    transport: str | None = None  # ssh | mitogen; None: $OTORCH_TRANSPORT, else ssh
    forks: int | None = None  # hosts of a wave in their chain at once (1..MAX_FORKS); None: DEFAULT_FORKS


def run_transport(name: str | None) -> Transport:
    """The transport a run uses (`name`, else the site's default); REFUSED, before anything starts, when it
    cannot run on this controller (Mitogen not installed, an ansible-core release it does not support)."""
    chosen = name or default_transport()
    problem = transport_problem(chosen)
    if problem is not None:
        raise AppError(problem, ExitCode.REFUSED)
    return "mitogen" if chosen == "mitogen" else "ssh"


def run_forks(forks: int | None) -> int:
    """The hosts of a wave in their chain at once: `forks`, else DEFAULT_FORKS; a usage error outside
    1..MAX_FORKS (the CLI's option refuses it first; this guards the library's other callers)."""
    if forks is None:
        return DEFAULT_FORKS
    if not 1 <= forks <= MAX_FORKS:
        raise AppError(f"forks must be between 1 and {MAX_FORKS}, got {forks}", usage=True)
    return forks


def secret_channel_problem(names: Sequence[str]) -> None:
    """Refuse (REFUSED) before any secret is read when it could not be handed on without a disk file."""
    problem = channel_problem() if names else None
    if problem is not None:
        raise AppError(problem, ExitCode.REFUSED)


def load_waveplan(path: Path) -> WavePlan:
    try:
        return load_wave_plan(path)
    except PlanFileError as exc:
        raise AppError(str(exc), ExitCode.ERROR) from exc


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
    """What `run|resume` checks against: the trust file, signed plan and wave plan, the inventory and
    catalog as they are when each host starts, the signed approvals (docs/trust.md)."""
    try:
        trust = find_trust(trust_file)
    except TrustError as exc:
        raise AppError(str(exc), ExitCode.REFUSED) from exc

    def read_inv() -> tuple[dict[str, Asset], str]:
        found = read_inventory([inventory]).inventory
        return found.by_name(), str(inventory)

    return Authority(
        trust=trust, read_inventory=read_inv, read_catalog=read_catalog, waveplan_file=waveplan_file,
        plan_file=plan_file, read_plan=load_plan, operator_key=key, approvals_dir=approvals_dir,
        artifact_digests=artifact_check,
    )  # fmt: skip


def _orphan_waiter(warn: Callable[[str], None]) -> Callable[[Backend, str], None]:
    """On resume, before probing: the backend ends what the crashed run left (after a grace, then SIGKILL)."""

    def wait(backend: Backend, run_id: str) -> None:
        def notify(step: str, left: list[str]) -> None:
            warn(f"{step} {len(left)} process(es) left by the crashed run: {', '.join(left)}")

        survivors = backend.end_orphans(run_id, grace_s=orphan_grace_s(), notify=notify)
        if survivors:
            raise AppError(f"processes of the crashed run survived SIGKILL: {survivors}", ExitCode.ERROR)

    return wait


def run_options(
    request: RunRequest,
    *,
    run_id: str,
    waveplan: WavePlan,
    waveplan_copy: Path,
    plan_copy: Path | None,
    inventory: Path,
    check: bool,
    wave: int | None,
    paths: StatePaths,
    caller: Caller,
) -> RunOptions:
    catalog_path = request.catalog or found.default_catalog(inventory)
    read_catalog = found.catalog_reader(catalog_path)
    where = list(request.artifacts) or found.default_artifact_dirs(catalog_path, inventory)
    artifacts = found.artifact_check(waveplan.patches, where, request.operator, request.no_artifact_check)
    authority = make_authority(
        inventory, read_catalog, request.trust_file, waveplan_copy, plan_copy, request.key,
        request.approvals_dir, artifacts.host_digests,  # each host's, just before its install
    )  # fmt: skip
    return RunOptions(
        operator=request.operator,
        inventory=inventory,
        check_mode=check,
        only_wave=wave,
        secret_vars=dict(request.secrets),
        phase_timeout_s=request.phase_timeout_s,
        task_timeout_s=request.task_timeout_s,
        catalog=read_catalog,
        artifact_digests=artifacts.run_digests,
        artifact_check_override=artifacts.override,
        confirm=caller.confirm,
        abort_requested=abort_poll(paths, run_id),
        wait_for_orphans=_orphan_waiter(caller.warn),
        run_id=run_id,
        transport=run_transport(request.transport),
        forks=run_forks(request.forks),
        waveplan_path=str(waveplan_copy),
        plan_path=str(plan_copy) if plan_copy else None,
        authority=authority,
    )
