"""`otorch feeds`: follow CSAF provider feeds and the KEV catalog into a verified store with provenance.

Exit codes of `sync`: 0 every document verified and stored (or unchanged); 10 (INTEGRITY) something was
refused (each refusal is listed with its reason; the stored copy is kept); 8 (INPUT_INVALID) the feeds file
or a key file is unusable; 1 (ERROR) a feed could not be synced (listing or source unreachable: run again
to resume).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

import click

from otorchestrator.app import clock
from otorchestrator.cli._shared import resolve_paths, state_dir_option
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.feeds.config import FEEDS_FILE, FeedConfig, KevConfig, SiteFeeds, load_feeds, save_feeds
from otorchestrator.feeds.kev import KevSync, kev_paths, sync_kev
from otorchestrator.feeds.store import FeedStore
from otorchestrator.feeds.sync import SyncReport, sync_feed
from otorchestrator.feeds.transport import fetch
from otorchestrator.feeds.verify import Keyring, KeyringError
from otorchestrator.intake.errors import IntakeError


def _config_path(config: Path | None, state_dir: Path | None) -> Path:
    return config if config is not None else resolve_paths(state_dir).root / FEEDS_FILE


def _load(path: Path) -> SiteFeeds:
    try:
        return load_feeds(path)
    except IntakeError as exc:
        click.echo(f"feeds file {path} is unusable:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(ExitCode.INPUT_INVALID) from exc


config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Feeds file (default: <state dir>/{FEEDS_FILE}).",
)


@click.group()
def feeds() -> None:
    """Follow advisory feeds (CSAF ROLIE or index.txt + changes.csv) and the KEV catalog.

    For example: CISA's OT feed through a plant mirror, the KEV catalog, a sync, and a plan over both.

    \b
    Examples:
      otorch feeds add cisa-ot https://raw.githubusercontent.com/cisagov/CSAF/develop/csaf_files/OT/white/ \\
        --kind index --index-base https://raw.githubusercontent.com/cisagov/CSAF/develop/ \\
        --key keys/cisa.asc --fingerprint 0123...CDEF \\
        --mirror https://raw.githubusercontent.com/cisagov/CSAF/develop/=http://mirror.plant.local/cisa/
      otorch feeds add kev --kind kev \\
        https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
      otorch feeds sync
      otorch plan -i inventory --advisories .otorch/feeds/cisa-ot/advisories \\
        --kev .otorch/feeds/kev/known_exploited_vulnerabilities.json ...
    """


@feeds.command()
@click.argument("name")
@click.argument("location")
@click.option(
    "--kind",
    type=click.Choice(["index", "rolie", "kev"]),
    required=True,
    help="index: index.txt + changes.csv (CSAF provider directory); rolie: a ROLIE feed; kev: the KEV JSON.",
)
@click.option("--key", "key_file", help="Armored OpenPGP public key file of the publisher (not for kev).")
@click.option("--fingerprint", "fingerprints", multiple=True, help="Pinned signer fingerprint (repeatable).")
@click.option("--index-base", default="", help="What index.txt/changes.csv entries are relative to.")
@click.option("--mirror", "mirrors", multiple=True, help="PUBLISHER_PREFIX=MIRROR_URL_OR_DIR (repeatable).")
@config_option
@state_dir_option
def add(
    name: str,
    location: str,
    kind: str,
    key_file: str | None,
    fingerprints: tuple[str, ...],
    index_base: str,
    mirrors: tuple[str, ...],
    config: Path | None,
    state_dir: Path | None,
) -> None:
    """Add (or replace) feed NAME at LOCATION (URL or directory) in the feeds file.

    \b
    Examples:
      otorch feeds add vendor-x /srv/mirror/vendor-x/ --kind index \\
        --key keys/vendor-x.asc --fingerprint 0123456789ABCDEF0123456789ABCDEF01234567
      otorch feeds add kev --kind kev /media/usb/known_exploited_vulnerabilities.json
      otorch feeds add cisa-ot https://example.invalid/csaf/ --kind rolie --key cisa.asc \\
        --fingerprint 0123...CDEF --mirror https://example.invalid/=/srv/mirror/cisa/
    """
    path = _config_path(config, state_dir)
    site = _load(path)
    mapping = {}
    for item in mirrors:
        prefix, sep, target = item.partition("=")
        if not sep or not prefix or not target:
            raise click.BadParameter(f"expected PREFIX=TARGET, got {item!r}", param_hint="--mirror")
        mapping[prefix] = target
    try:
        if kind == "kev":
            site = site.model_copy(update={"kev": KevConfig(location=location, mirrors=mapping)})
        else:
            if not key_file or not fingerprints:
                raise click.UsageError("a CSAF feed needs --key FILE and at least one --fingerprint")
            feed = FeedConfig(
                name=name,
                kind=cast(Literal["index", "rolie"], kind),
                location=location,
                index_base=index_base,
                key_file=key_file,
                fingerprints=fingerprints,
                mirrors=mapping,
            )
            kept = tuple(f for f in site.feeds if f.name != name)
            site = site.model_copy(update={"feeds": (*kept, feed)})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    save_feeds(site, path)
    click.echo(f"{'KEV location' if kind == 'kev' else f'feed {name}'} saved in {path}")


def _progress(text: str, done: int, total: int) -> None:
    click.echo(f"[{done}/{total}] {text}", err=True)


def _now() -> datetime:
    return clock.now_seconds()


@feeds.command(epilog=exit_codes_help(ExitCode.INTEGRITY, ExitCode.INPUT_INVALID, ExitCode.ERROR))
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No per-document progress (refusals are still listed).")
@config_option
@state_dir_option
def sync(name: str | None, as_json: bool, quiet: bool, config: Path | None, state_dir: Path | None) -> None:
    """Fetch what changed, verify (sha512, pinned OpenPGP signer, CSAF, no replay) and store it.

    \b
    Examples:
      otorch feeds sync                 # every feed and the KEV catalog
      otorch feeds sync cisa-ot --json  # one feed, the result as JSON
      otorch feeds sync --quiet && otorch watch -i site/ --catalog catalog.yml
    """
    path = _config_path(config, state_dir)
    site = _load(path)
    root = resolve_paths(state_dir).root
    try:
        chosen = [site.feed(name)] if name and name != "kev" else ([] if name == "kev" else list(site.feeds))
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    if not chosen and site.kev is None:
        raise click.UsageError(f"no feeds configured in {path}: add one with `otorch feeds add`")
    reports: list[SyncReport] = []
    failed = keys_unusable = False
    for feed in chosen:
        try:
            with Keyring(site.key_path(feed), feed.fingerprints) as keyring:
                report = sync_feed(
                    feed,
                    site.mapping(feed.mirrors),
                    FeedStore(root, feed.name),
                    keyring,
                    fetch,
                    _now,
                    None if quiet or as_json else _progress,
                )
        except KeyringError as exc:
            report = SyncReport(feed.name, aborted=f"key file unusable: {exc}")
            keys_unusable = True
        reports.append(report)
        failed |= report.aborted is not None
    kev: KevSync | None = None
    if site.kev is not None and (name is None or name == "kev"):
        kev = sync_kev(site.kev, site.mirrors, root, fetch, _now)
    refused = any(r.refused for r in reports) or (kev is not None and bool(kev.refused))
    if as_json:
        body = {"feeds": [asdict(r) for r in reports], "kev": asdict(kev) if kev else None}
        click.echo(json.dumps(body, indent=2))
    else:
        for report in reports:
            _print_report(report, root)
        if kev is not None:
            _print_kev(kev)
    sys.exit(
        (ExitCode.INPUT_INVALID if keys_unusable else ExitCode.ERROR)
        if failed
        else ExitCode.INTEGRITY
        if refused
        else ExitCode.OK
    )


def _print_report(report: SyncReport, root: Path) -> None:
    click.echo(
        f"feed {report.feed}: {report.listed} listed, {len(report.stored)} stored (new or revised), "
        f"{report.unchanged} unchanged, {len(report.refused)} refused"
    )
    for refusal in report.refused:
        click.echo(f"  REFUSED {refusal.name}: {refusal.reason}")
    if report.aborted:
        click.echo(f"  STOPPED: {report.aborted}")
    click.echo(f"  store: {FeedStore(root, report.feed).advisories}")


def _print_kev(kev: KevSync) -> None:
    if kev.refused:
        click.echo(f"KEV {kev.fetched_from}: REFUSED: {kev.refused} (stored copy kept)")
    else:
        click.echo(
            f"KEV {kev.fetched_from}: {kev.entries} entries, {len(kev.new_entries)} new, "
            f"sha256 {kev.sha256[:16]}... "
            "(KEV is not signed: hash and time recorded)"
        )


@feeds.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the feeds as JSON on stdout.")
@config_option
@state_dir_option
def list_feeds(as_json: bool, config: Path | None, state_dir: Path | None) -> None:
    """The configured feeds with what is stored for each.

    \b
    Examples:
      otorch feeds list
      otorch feeds list --json | jq '.feeds[] | {name, documents, last_fetched}'
    """
    path = _config_path(config, state_dir)
    site = _load(path)
    root = resolve_paths(state_dir).root
    rows: list[dict[str, Any]] = []
    for feed in site.feeds:
        stored = FeedStore(root, feed.name).stored()
        latest = max((s.record.provenance.fetched_at for s in stored.values()), default="never")
        rows.append(
            {
                "name": feed.name,
                "kind": feed.kind,
                "location": feed.location,
                "documents": len(stored),
                "not_intact": sorted(n for n, s in stored.items() if not s.intact),
                "last_fetched": latest,
                "fingerprints": list(feed.fingerprints),
            }
        )
    kev_record = kev_paths(root)[1]
    kev = json.loads(kev_record.read_text()) if kev_record.exists() else None
    if as_json:
        click.echo(
            json.dumps(
                {"feeds": rows, "kev": {"location": site.kev.location if site.kev else None, "stored": kev}},
                indent=2,
            )
        )
        return
    for row in rows:
        click.echo(
            f"{row['name']} ({row['kind']}) {row['location']}: {row['documents']} document(s), "
            f"last fetched {row['last_fetched']}"
        )
        for name in row["not_intact"]:
            click.echo(f"  NOT INTACT {name}: differs from its provenance record (run `otorch feeds sync`)")
    if site.kev is not None:
        click.echo(
            f"kev {site.kev.location}: "
            + (f"{kev['entries']} entries, fetched {kev['fetched_at']}" if kev else "never fetched")
        )
