"""CLI conventions (docs/cli.md), checked over every command and subcommand `otorch` has:
an Examples section and help text for every option, --json where a command reports, one exit-code table."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import otorchestrator.cli as cli_package
from otorchestrator.cli.main import COMMANDS, cli
from otorchestrator.exitcodes import MEANING, ExitCode

ROOT = Path(__file__).resolve().parents[2]

# commands that report something (a table, a verdict, a summary): each takes --json
REPORTING = {
    "inventory show",
    "inventory validate",
    "plan",
    "waves",
    "scan",
    "run",
    "resume",
    "status",
    "rollback",
    "abort",
    "audit show",
    "audit verify",
    "report run",
    "records",
    "drill",
}
# not yet converted by their owners' modules (shrinks to nothing; docs/cli.md lists what is left)
NO_EXAMPLES_YET: set[str] = set()
NO_JSON_YET: set[str] = set()
OPTIONS_WITHOUT_HELP_YET: set[str] = set()


def _walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _walk(sub, (*path, name))


ALL = dict(_walk(cli))


def test_every_registered_command_loads() -> None:
    assert set(COMMANDS) <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_help_has_examples_and_every_option_help(name: str) -> None:
    command = ALL[name]
    text = command.get_help(click.Context(command, info_name=name or "otorch"))
    has_examples = re.search(r"^\s*Examples:\s*$\n\s+(\S+=\S+ )?otorch", text, re.M) is not None
    # a name on a *_YET list must still be lacking: the list stays true and shrinks as commands are fixed
    assert has_examples is (name not in NO_EXAMPLES_YET), f"`otorch {name} --help`: Examples {has_examples}"
    missing = [
        p.opts[-1]
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()
    ]
    assert (missing == []) is (name not in OPTIONS_WITHOUT_HELP_YET), f"otorch {name}: no help: {missing}"


@pytest.mark.parametrize("name", sorted(REPORTING))
def test_reporting_commands_take_json(name: str) -> None:
    flags = [p for p in ALL[name].params if isinstance(p, click.Option) and "--json" in p.opts]
    has_json = bool(flags) and flags[0].is_flag
    assert has_json is (name not in NO_JSON_YET), f"otorch {name}: --json flag {has_json}"


def test_the_exit_code_table_in_docs_is_the_enum() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", text, re.M))
    assert rows == {str(int(c)): c.name for c in ExitCode}
    assert set(MEANING) == set(ExitCode)


def _literal_exits(path: Path) -> list[str]:
    """`sys.exit(3)`, `SystemExit(1)`, `exit_code = 2`: an exit status written as a number."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("sys.exit", "SystemExit", "exit") and node.args:
                arg = node.args[0]
                values = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
                if any(isinstance(v, ast.Constant) and isinstance(v.value, int) and v.value for v in values):
                    found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            targets = [ast.unparse(t) for t in node.targets]
            if any(t.startswith("EXIT_") for t in targets) and isinstance(node.value.value, int):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


# modules whose owners convert them later (an edit each; docs/cli.md says which)
LITERAL_EXITS_YET: set[str] = set()


@pytest.mark.parametrize("module", sorted(p.name for p in Path(cli_package.__file__).parent.glob("*.py")))
def test_commands_use_the_exit_code_enum(module: str) -> None:
    found = _literal_exits(Path(cli_package.__file__).parent / module)
    assert (found == []) is (module not in LITERAL_EXITS_YET), found


@pytest.mark.parametrize("args", [["status"], ["audit", "verify"], ["report", "run"]])
def test_no_state_store_is_one_error_with_one_code(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path / "nothing")])
    assert result.exit_code == ExitCode.NO_STATE, result.output
    assert f"no state store at {tmp_path / 'nothing' / 'state.db'}" in result.output
    assert "--state-dir" in result.output and "OTORCH_STATE_DIR" in result.output  # where to look
    assert not (tmp_path / "nothing").exists()  # looking did not create it
