"""`otorch waves`: stage a reviewed plan into waves (docs/waves.md). Thin: read, plan, render."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from otorchestrator.app import clock, staging
from otorchestrator.app.errors import AppError
from otorchestrator.cli._shared import now_option, trust_option
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.plan import ExemptionRef
from otorchestrator.models.waves import WavePlan
from otorchestrator.trust.gate import Gate


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # an error is never cropped (a long path in it would end in an ellipsis): stderr soft-wraps
    return Console(file=stream, highlight=False, soft_wrap=stderr, width=None if stream.isatty() else 160)


def _fail(message: str) -> NoReturn:
    _console(stderr=True).print(f"[red]error:[/red] {escape(message)}")
    sys.exit(ExitCode.INPUT_INVALID)


def _hm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%m-%d %H:%M")


def render(wp: WavePlan, console: Console, max_rows: int) -> None:
    table = Table(title=f"Waves (UTC; plan {wp.plan_hash[:19]}, policy {wp.policy_hash[:19]})")
    for column in ("wave", "host", "zone", "Purdue", "role", "criticality", "patches", "rule", "why here"):
        table.add_column(column, overflow="fold")
    shown = 0
    total = sum(len(w.hosts) for w in wp.waves)
    for wave in wp.waves:
        for n, host in enumerate(wave.hosts):
            if shown >= max_rows:
                break
            label = f"{wave.name}\n{_hm(wave.slot_start)}" if n == 0 else ""
            crit = host.criticality.value + (" SIS" if host.safety_system else "")
            table.add_row(
                label,
                host.name,
                host.zone,
                f"{host.purdue_level:g}",
                host.role.value,
                crit,
                ", ".join(host.patch_ids),
                host.placement_rule.value,
                escape(host.placement_reason),
                end_section=n == len(wave.hosts) - 1,
            )
            shown += 1
    console.print(table)
    if shown < total:
        console.print(f"... {total - shown} more hosts (raise --max-rows, or read the JSON)")
    _timeline(wp, console)
    _safety_context(wp, console, max_rows)
    _left_out(wp, console, max_rows)


def _timeline(wp: WavePlan, console: Console) -> None:
    if not wp.waves:
        console.print("[yellow]No waves: nothing could be placed.[/yellow]")
        return
    first, last = wp.waves[0].slot_start, max(w.slot_end for w in wp.waves)
    span = max((last - first).total_seconds(), 1.0)
    width = 48
    console.print(f"\nTimeline (UTC) {_hm(first)} .. {_hm(last)}")
    for wave in wp.waves[:60]:
        a = int((wave.slot_start - first).total_seconds() / span * width)
        b = max(a + 1, int((wave.slot_end - first).total_seconds() / span * width))
        bar = " " * a + "█" * (b - a)
        console.print(
            f"  {wave.name:<10} {_hm(wave.slot_start)}-{wave.slot_end.astimezone(UTC):%H:%M} "
            f"{bar:<{width}}  {len(wave.hosts)} hosts, failure budget {wave.failure_budget}"
        )
    if len(wp.waves) > 60:
        console.print(f"  ... {len(wp.waves) - 60} more waves")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _exemption_text(ex: ExemptionRef) -> str:
    until = _when(ex.expires)
    state = f"EXPIRED {until}, not applied" if ex.expired else f"applied until {until}"
    controls = ", ".join(ex.compensating_controls) or "none listed"
    return f"{state}: {ex.reason}; compensating controls: {controls}"


def safety_rows(wp: WavePlan) -> list[tuple[str, str, str, str, str]]:
    """(host, what, who, when, why) for every approval, override and exemption the wave plan carries:
    approvals of staged hosts, overrides and expired exemptions of their items, exemptions keeping items
    out."""
    rows: list[tuple[str, str, str, str, str]] = []
    for wave in wp.waves:
        for host in wave.hosts:
            if host.approval is not None:
                a = host.approval
                rows.append((host.name, f"approval ({wave.name})", a.approved_by, _when(a.at), a.reason))
            for item in host.items:
                if item.override is not None:
                    o = item.override
                    what = f"override {item.patch_id} ({o.kind})"
                    rows.append((host.name, what, o.approved_by, _when(o.at), o.reason))
                if item.exemption is not None:
                    ex = item.exemption
                    what = f"exemption {ex.id} on {item.patch_id}"
                    rows.append((host.name, what, ex.approver, "", _exemption_text(ex)))
    for out in wp.exclusions:
        if out.exemption is not None:
            ex = out.exemption
            what = f"exemption {ex.id} on {out.patch_id}"
            rows.append((out.asset, what, ex.approver, "", _exemption_text(ex)))
    return rows


def _safety_context(wp: WavePlan, console: Console, max_rows: int) -> None:
    rows = safety_rows(wp)
    if not rows:
        return
    table = Table(title="Approvals, overrides and exemptions (who, when, why)")
    for column in ("host", "what", "who", "when", "why / controls"):
        table.add_column(column, overflow="fold")
    for row in rows[:max_rows]:
        table.add_row(*(escape(cell) for cell in row), style="red" if "EXPIRED" in row[4] else "")
    console.print(table)
    if len(rows) > max_rows:
        console.print(f"... {len(rows) - max_rows} more (raise --max-rows, or read the JSON)")


def _left_out(wp: WavePlan, console: Console, max_rows: int) -> None:
    if wp.holds:
        table = Table(title="Held: waiting for an approval")
        for column in ("host", "patches", "reason", "released by"):
            table.add_column(column, overflow="fold")
        for hold in wp.holds[:max_rows]:
            table.add_row(hold.asset, ", ".join(hold.patch_ids), escape(hold.reason), escape(hold.release))
        console.print(table)
    if wp.exclusions:
        table = Table(title="Left out (red: a constraint that cannot be met)")
        for column in ("host", "patch", "rule", "reason"):
            table.add_column(column, overflow="fold")
        for ex in wp.exclusions[:max_rows]:
            style = "red" if ex.infeasible else ""
            table.add_row(ex.asset, ex.patch_id, ex.rule.value, escape(ex.reason), style=style)
        console.print(table)
    for gap in wp.canary_gaps[:max_rows]:
        console.print(f"[yellow]canary gap:[/yellow] {escape(gap.combination)}: {escape(gap.reason)}")
    for warning in wp.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    placed = sum(len(w.hosts) for w in wp.waves)
    console.print(
        f"\n{len(wp.waves)} waves, {placed} hosts placed, {len(wp.holds)} held, "
        f"{len(wp.exclusions)} items left out ({len(wp.infeasible)} infeasible)"
    )


def signed_approvals(gate: Gate, console: Console) -> None:
    """Which signed approval file placed which host; approval files that did not count."""
    if gate.signed is None:
        return
    for host, approvals in gate.signed.admitted.items():
        files = ", ".join(f"{a.path.name} (signed by {a.signer})" for a in approvals)
        console.print(f"approved: {host} by {escape(files)}")
    for bad in gate.signed.rejected:
        console.print(f"[yellow]approval not counted:[/yellow] {escape(str(bad.path))}: {escape(bad.reason)}")


@click.command()
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Wave policy YAML (default: the built-in policy of docs/waves.md).",
)
@click.option("-i", "--inventory", help="Inventory path, recorded in the wave plan for `otorch run`.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the wave plan here."
)
@now_option("Schedule from this moment (needs an offset; default: now, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the wave plan as JSON instead of tables.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML page: the waves drawn against each asset's maintenance windows.",
)
@click.option("--max-rows", default=200, show_default=True, help="Rows per table in the terminal.")
@click.option("--strict", is_flag=True, help="Exit 11 (INFEASIBLE) when a constraint cannot be met.")
@trust_option("With one, the plan must be signed and approvals come only from signed approval files.")
@click.option(
    "--approvals", "approvals_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Directory of signed approval files (default: the trust file's approvals_dir).",
)  # fmt: skip
def waves(
    plan_file: Path,
    policy_file: Path | None,
    inventory: str | None,
    output: Path | None,
    now: datetime | None,
    as_json: bool,
    html_file: Path | None,
    max_rows: int,
    strict: bool,
    trust_file: Path | None,
    approvals_dir: Path | None,
) -> None:
    """Stage a reviewed plan into waves: canary first, then ascending risk.

    \b
    Redundancy pairs never share a wave, zones and waves are capped, every
    host's slot lies in its maintenance window with time for its duration
    plus rollback, safety-system and high-criticality hosts need an approval,
    dependencies go first. Every placement says which rule put it there;
    everything left out says why. Nothing runs on hosts.

    \b
    Examples:
      otorch waves plan.json --policy inventories/lab/policy.yml -o waves.json
      otorch waves plan.json --now 2026-11-22T02:00:00+00:00 --json
      otorch waves plan.json -i inventories/site --trust /etc/otorchestrator/trust.yml -o waves.json
      otorch waves plan.json -o waves.json --html waves.html
    """
    now = now or clock.now_seconds()
    try:
        staged = staging.stage(
            plan_file, now, policy_file=policy_file, inventory=inventory, trust_file=trust_file,
            approvals_dir=approvals_dir, output=output, html_file=html_file,
        )  # fmt: skip
    except AppError as exc:
        _fail(str(exc))
    wave_plan, gate = staged.wave_plan, staged.gate
    if as_json:
        click.echo(wave_plan.model_dump_json(indent=2))
    else:
        console = _console()
        render(wave_plan, console, max_rows)
        signed_approvals(gate, console)
        if output is not None:
            console.print(f"wave plan written to {output} ({wave_plan.content_hash})")
        if html_file is not None:
            console.print(f"wave timeline written to {html_file}")
    if strict and wave_plan.infeasible:
        sys.exit(ExitCode.INFEASIBLE)
