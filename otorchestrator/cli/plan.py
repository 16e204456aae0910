"""`otorch plan`: read inventory, advisories, KEV, catalog, exemptions and approvals; write the plan.

Exit codes: 0 plan written (advisory import problems are listed, not fatal); 2 usage error;
8 an input is unusable (inventory, catalog, KEV, exemptions or approvals): nothing written.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from otorchestrator.app import AppError, clock, planning
from otorchestrator.cli._shared import emit_json, now_option, plan_input_options
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.models.plan import Decision

SHOW_PROBLEMS = 15
STYLE = {
    Decision.IMMEDIATE: "bold red",
    Decision.OUT_OF_CYCLE: "red",
    Decision.SCHEDULED: "yellow",
    Decision.DEFER: "green",
    Decision.EXEMPT: "cyan",
    Decision.BLOCKED: "magenta",
}


def _short(reason: str, limit: int = 140) -> str:
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def _summary(console: Console, planned: planning.Planned, top: int) -> None:
    plan, imported = planned.plan, planned.imported
    counts = Table(title=f"Plan: {len(plan.items)} item(s) on {len({i.asset for i in plan.items})} asset(s)")
    counts.add_column("decision")
    counts.add_column("items", justify="right")
    for decision, n in plan.decision_counts().items():
        counts.add_row(f"[{STYLE[Decision(decision)]}]{decision}[/]", str(n))
    console.print(counts)
    if plan.items and top > 0:
        table = Table(title=f"Top {min(top, len(plan.items))} item(s)", show_lines=True)
        for column in ("#", "asset", "patch", "decision", "CVEs"):
            table.add_column(column, no_wrap=True)
        table.add_column("why", overflow="fold", min_width=40)
        for item in plan.items[:top]:
            table.add_row(
                str(item.priority_rank),
                item.asset,
                item.patch_id,
                f"[{STYLE[item.decision]}]{item.decision.value}[/]",
                "\n".join(item.cves),
                "\n".join(_short(r) for r in item.reasons),
            )
        console.print(table)
    console.print(
        f"advisories: {len(imported.advisories)} read of {imported.files} file(s), "
        f"{imported.skipped} skipped; "
        f"{len(imported.problems)} import problem(s)"
    )
    for problem in imported.problems[:SHOW_PROBLEMS]:
        console.print(f"  [{problem.severity.value}] {problem}", markup=False)
    if len(imported.problems) > SHOW_PROBLEMS:
        console.print(
            f"  ... {len(imported.problems) - SHOW_PROBLEMS} more in the plan file (import_problems)"
        )
    if imported.kev_problems:
        console.print(f"KEV: {len(imported.kev_problems)} bad entr(ies) skipped (also in import_problems)")
        for problem in imported.kev_problems[:SHOW_PROBLEMS]:
            console.print(f"  [{problem.severity.value}] {problem}", markup=False)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@click.command(epilog=exit_codes_help(ExitCode.INPUT_INVALID))
@plan_input_options
@click.option(
    "--advisories",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="CSAF 2.0 file or directory (repeatable).",
)
@click.option("--kev", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CISA KEV JSON.")
@now_option(
    "ISO-8601 datetime with offset; default: the current time. The plan records it (created_at) and "
    "judges exemption expiry by it: pin it (e.g. --now 2026-03-10T08:00:00+00:00) for a byte-identical "
    "plan from the same inputs."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the plan: JSON, or YAML for a .yml/.yaml name.",
)
@click.option("--top", default=10, show_default=True, help="How many items to show in the summary.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Write the plan even when no advisory could be read (else an error: an empty plan looks clean).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the summary as JSON on stdout (counts, top items, import problems, the plan's path, hash).",
)
def plan(
    inventory_path: Path,
    advisories: tuple[Path, ...],
    kev: Path | None,
    catalog: Path,
    exemptions: Path | None,
    approvals: Path | None,
    now: datetime | None,
    output: Path,
    top: int,
    allow_empty: bool,
    as_json: bool,
) -> None:
    """Match advisories to the inventory, prioritize with SSVC, and write the plan (JSON, or YAML by suffix).

    Deterministic: the same input files and the same --now give a byte-identical plan, from any working
    directory (files are named relative to their --advisories root or by file name).

    \b
    Examples:
      otorch plan -i inventories/lab --advisories inventories/lab/advisories \\
        --kev inventories/lab/kev.json --catalog inventories/lab/catalog.yml -o out/plan.json
      otorch plan -i site/ --advisories .otorch/feeds/cisa-ot/advisories --catalog catalog.yml \\
        --exemptions exemptions.yml --now 2026-03-10T08:00:00+00:00 -o plan.yaml --top 20
      otorch plan ... -o plan.json --json | jq '.decisions'
    """
    now = now or clock.now_seconds()
    console = summary_console()
    try:
        planned = planning.plan(
            inventory_path, advisories, catalog, now, output,
            kev=kev, exemptions=exemptions, approvals=approvals, allow_empty=allow_empty,
        )  # fmt: skip
    except AppError as exc:
        show_problems(exc)
        raise SystemExit(exc.code) from exc
    if as_json:
        emit_json(_summary_json(planned, top))
        return
    render(console, planned, top)


def summary_console() -> Console:
    """stdout, wide enough for the reasons when piped (rich assumes 80 columns then), as `otorch waves`."""
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def render(console: Console, planned: planning.Planned, top: int = 10) -> None:
    """The summary `otorch plan` (and the demo) prints: decisions, the top items, what the import skipped."""
    _summary(console, planned, top)
    console.print(f"plan written to {planned.output} ({planned.plan.content_hash})")


def show_problems(exc: AppError) -> None:
    """The heading in red, then one problem a line (file:line: path: ...), on stderr."""
    err = Console(stderr=True, soft_wrap=True)  # a problem stays on one line
    heading, *problems = exc.message.splitlines()
    err.print(f"[red]{escape(heading)}[/]")
    for line in problems:
        err.print(line, markup=False)


def _summary_json(planned: planning.Planned, top: int) -> dict[str, object]:
    plan, imported = planned.plan, planned.imported
    return {
        "plan": str(planned.output),
        "content_hash": plan.content_hash,
        "items": len(plan.items),
        "assets": len({i.asset for i in plan.items}),
        "decisions": plan.decision_counts(),
        "top": [
            {
                "rank": i.priority_rank,
                "asset": i.asset,
                "patch": i.patch_id,
                "decision": i.decision.value,
                "cves": list(i.cves),
                "reasons": list(i.reasons),
            }
            for i in plan.items[: max(top, 0)]
        ],
        "advisories": {
            "read": len(imported.advisories),
            "files": imported.files,
            "skipped": imported.skipped,
        },
        "import_problems": [str(p) for p in imported.problems],
        "kev_problems": [str(p) for p in imported.kev_problems],
        "warnings": list(plan.warnings),
    }
