"""The CLI parses and renders; what a command does lives in otorchestrator/app (issue 12, item 2)."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).parents[2] / "otorchestrator" / "cli"
ENGINE_NAMES = {"Orchestrator", "RunOptions", "Authority", "WaveRunner", "new_run_id"}


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}


def test_no_command_builds_a_run_itself() -> None:
    offenders = {p.name: sorted(_imported_names(p) & ENGINE_NAMES) for p in CLI.glob("*.py")}
    assert {name: names for name, names in offenders.items() if names} == {}


def test_the_demo_runs_through_the_same_start_run_as_otorch_run() -> None:
    for name in ("demo.py", "run.py"):
        assert "runs.start_run(" in (CLI / name).read_text(encoding="utf-8"), name


def test_one_clock_one_moment_parser_one_trust_option() -> None:
    text = {p.name: p.read_text(encoding="utf-8") for p in CLI.glob("*.py")}
    for needle in ("datetime.now(", "fromisoformat(", "SystemClock(", "click.DateTime("):
        assert [name for name, body in text.items() if needle in body] == [], needle
    assert [name for name, body in text.items() if '"--trust"' in body] == ["_shared.py"]


# what each thin command leaves to its app call (app/planning.py, app/scans.py, app/drills.py): the command
# itself imports no module of the engine, the planner, the input readers, the store, the trust checks or the
# report writers
ENGINE_AND_INPUTS = ("otorchestrator.execution", "otorchestrator.planning", "otorchestrator.intake")
STORE_TRUST_REPORTS = ("otorchestrator.store", "otorchestrator.trust", "otorchestrator.reporting")
BEHIND_THE_APP = {
    "plan.py": ENGINE_AND_INPUTS,
    "scan.py": ENGINE_AND_INPUTS + STORE_TRUST_REPORTS,
    "drill.py": ENGINE_AND_INPUTS + STORE_TRUST_REPORTS,
    # the demo keeps its own showcase of the audit trail and the lab's keys (store, trust)
    "demo.py": (*ENGINE_AND_INPUTS, "otorchestrator.reporting"),
}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return found | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}


def test_thin_commands_import_nothing_that_belongs_behind_the_app_layer() -> None:
    offenders = {
        name: sorted(m for m in _imported_modules(CLI / name) if m.startswith(prefixes))
        for name, prefixes in BEHIND_THE_APP.items()
    }
    assert {name: modules for name, modules in offenders.items() if modules} == {}


def test_the_demo_calls_the_app_as_the_commands_do_not_a_nested_otorch() -> None:
    demo = CLI / "demo.py"
    modules = _imported_modules(demo)
    assert not modules & {"otorchestrator.cli.main", "subprocess", "click.testing"}, modules
    tree = ast.parse(demo.read_text(encoding="utf-8"))
    called = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    nested = {c for c in called if c.split(".")[-1] in {"main", "invoke", "Popen", "run", "call", "system"}}
    assert nested == set()
    steps = ("scans.scan", "planning.plan", "staging.stage", "runs.start_run", "reports.run_report")
    assert {*steps, "reports.compliance_report"} <= called
