"""What a run did to each host's packages and CVEs (pure): versions before, attempted and after, and each
CVE of the host's patches with the plan's decision and what the run made of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from otorchestrator.models.plan import PlanItem
from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState, HostStateRecord, PhaseResultRecord
from otorchestrator.models.waves import WaveHost, WavePlan
from otorchestrator.reporting.models import HostCve, VersionChange


def _first(found: Iterable[dict[str, str]]) -> dict[str, str]:
    return next((dict(f) for f in found if f), {})


def version_changes(
    state: HostStateRecord, records: Sequence[PhaseResultRecord], targets: dict[str, str]
) -> tuple[VersionChange, ...]:
    """Per package: before, the version attempted, and where the host ended (a rolled-back host shows the
    attempted version: "1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0", never "1.0.0 -> 1.0.0")."""
    results = [r.result for r in records]
    before = dict(state.versions_before) or _first(r.versions_before for r in results)
    found = [r.values.get("installed") for r in results]
    installed = _first({str(k): str(v) for k, v in f.items()} for f in found if isinstance(f, dict))
    after = dict(state.versions_after) or _first(reversed([r.versions_after for r in results]))
    tried = any(r.phase is Phase.INSTALL for r in results)
    out = []
    for pkg in dict.fromkeys([*targets, *before]):
        b = before.get(pkg) or installed.get(pkg)
        t, a = targets.get(pkg), after.get(pkg)
        was, now = b or "?", a or "an unreported version"
        s = state.state
        if s is HostState.SUCCEEDED:
            text = f"{pkg} {was} -> {a or t or '?'}"
        elif tried and s is HostState.ROLLED_BACK:
            text = f"{pkg} {was} -> {t or '?'} attempted -> rolled back to {now}"
        elif tried and s is HostState.ROLLBACK_FAILED:
            text = f"{pkg} {was} -> {t or '?'} attempted -> rollback failed, now {now}"
        elif tried:
            text = f"{pkg} {was} -> {t or '?'} attempted -> {s.value.replace('_', ' ')}, now {now}"
        else:
            why = "refused by diagnostics" if s is HostState.BLOCKED else s.value.replace("_", " ")
            text = f"{pkg}{f' {b}' if b else ''}: {t or 'the patch'} not installed ({why})"
        out.append(VersionChange(package=pkg, before=b, attempted=t, after=a, text=text))
    return tuple(out)


_CVE_STATUS = {
    HostState.SUCCEEDED: "fixed (installed and verified)",
    HostState.ROLLED_BACK: "not fixed: attempted, rolled back",
    HostState.BLOCKED: "not fixed: refused by diagnostics, nothing changed",
    HostState.ROLLBACK_FAILED: "not fixed: rollback failed (operator attention)",
}


def host_cves(
    state: HostStateRecord, host: WaveHost | None, plan_items: dict[tuple[str, str], PlanItem]
) -> tuple[HostCve, ...]:
    status = _CVE_STATUS.get(state.state, f"not fixed: {state.state.value.replace('_', ' ')}")
    out = []
    for item in host.items if host else ():
        planned = plan_items.get((state.host, item.patch_id))
        for cve in dict.fromkeys((*item.cves, *(planned.cves if planned else ()))):
            out.append(
                HostCve(
                    cve=cve,
                    patch_id=item.patch_id,
                    decision=(planned.decision if planned else item.decision).value,
                    in_kev=planned.in_kev if planned else False,
                    cvss_max=planned.cvss_max if planned else None,
                    status=status,
                )
            )
    return tuple(out)


def patch_targets(waveplan: WavePlan | None, host: WaveHost | None) -> dict[str, str]:
    patches = waveplan.patch_map() if waveplan else {}
    found = [patches.get(i.patch_id) for i in (host.items if host else ())]
    return {p.package: p.target_version for p in found if p is not None and p.package and p.target_version}
