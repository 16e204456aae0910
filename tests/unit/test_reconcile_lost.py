"""A host lost after its install began (the link or the worker gone mid-step): `needs_reconcile`, not a plain
`unreachable`; `resume` of the finished run re-probes it and finishes it, never installing it twice."""

from __future__ import annotations

from typing import Any

from fake_backend import BASE, TARGET, make_plan, package_of
from test_orchestrator import S, env, states

from otorchestrator.execution.reconcile import NOT_STARTED, lost_state
from otorchestrator.execution.summary import ExitCode
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.run import RunStatus

__all__ = ["env"]  # the fixture


def _lost(phase: Phase, outcome: HostOutcome, **values: Any) -> PhaseResult:
    return PhaseResult(phase=phase, host="a", ok=False, outcome=outcome, values=values)


def test_lost_state_needs_reconcile_only_after_a_change_began() -> None:
    for phase in (Phase.INSTALL, Phase.VERIFY, Phase.ROLLBACK):
        for outcome in (HostOutcome.UNREACHABLE, HostOutcome.TIMED_OUT):
            state, note = lost_state(_lost(phase, outcome))
            assert state is S.NEEDS_RECONCILE and "resume re-probes" in note
    assert lost_state(_lost(Phase.DIAGNOSTICS, HostOutcome.UNREACHABLE)) == (S.UNREACHABLE, "")
    assert lost_state(_lost(Phase.BACKUP, HostOutcome.TIMED_OUT)) == (S.TIMED_OUT, "")
    # the backend knows the job never reached the host (its execution node did not answer): nothing changed
    not_started = _lost(Phase.INSTALL, HostOutcome.UNREACHABLE, **{NOT_STARTED: True})
    assert lost_state(not_started) == (S.UNREACHABLE, "")


def test_lost_after_the_install_took_effect_resumes_to_succeeded_without_a_second_install(env: Any) -> None:
    e = env(make_plan([["a", "b"]], budget=1), {("a", Phase.INSTALL): "lost"})
    first = e.run()
    assert states(first) == {"a": S.NEEDS_RECONCILE, "b": S.SUCCEEDED}
    assert first.run.status is RunStatus.COMPLETED and first.exit_code is ExitCode.ATTENTION
    (a,) = [h for h in first.hosts if h.host == "a"]
    assert "install unreachable" in a.detail and "outcome unknown" in a.detail
    e.backend.script.clear()
    resumed = e.resume(first.run.run_id)
    assert states(resumed) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED}
    assert e.backend.installs("a") == 1 and e.backend.installs("b") == 1
    probes = [c for c in e.backend.calls if c.run_label.endswith("-probe")]
    assert [c.hosts for c in probes] == [("a",)]  # only the lost host is re-probed
    with e.open()[1] as store:
        assert [p.patch_id for p in store.patch_history("a")] == ["P-a"]  # recorded once
    e.audit_ok()


def test_lost_before_the_install_took_effect_starts_again_from_diagnostics(env: Any) -> None:
    e = env(make_plan([["a"]], budget=1), {("a", Phase.INSTALL): "unreachable"})
    first = e.run()
    assert states(first) == {"a": S.NEEDS_RECONCILE}
    assert e.hosts["a"].versions[package_of("a")] == BASE
    e.backend.script.clear()
    resumed = e.resume(first.run.run_id)
    assert states(resumed) == {"a": S.SUCCEEDED}
    assert e.backend.installs("a") == 1 and e.hosts["a"].versions[package_of("a")] == TARGET


def test_a_rollback_lost_mid_step_is_finished_on_resume(env: Any) -> None:
    script = {("a", Phase.INSTALL): "break", ("a", Phase.ROLLBACK): "lost"}
    e = env(make_plan([["a"]], budget=1), script)
    first = e.run()
    assert states(first) == {"a": S.NEEDS_RECONCILE}
    e.backend.script.clear()
    resumed = e.resume(first.run.run_id)
    assert states(resumed) == {"a": S.ROLLED_BACK}
    assert e.backend.installs("a") == 1 and e.hosts["a"].versions[package_of("a")] == BASE


def test_a_host_lost_mid_install_spends_the_budget(env: Any) -> None:
    e = env(make_plan([["a"], ["b"]], budget=0), {("a", Phase.INSTALL): "lost"})
    summary = e.run()
    assert states(summary) == {"a": S.NEEDS_RECONCILE, "b": S.SKIPPED}
    assert summary.run.status is RunStatus.HALTED
