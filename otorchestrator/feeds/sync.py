"""`otorch feeds sync` for one CSAF feed: list, fetch what changed, verify, store. Effects at the edge:
fetching is the `fetch` passed in, the clock is `now`, the disk is the FeedStore.

Only documents whose listing timestamp differs from the stored revision's (or that are not stored intact)
are fetched, so a no-change resync reads the listing and nothing else, and a killed sync resumes where it
stopped: each stored document was committed whole (its record renamed last), the rest is fetched again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from otorchestrator.feeds.config import FeedConfig, map_address
from otorchestrator.feeds.listing import Listed, ListingError, from_changes, from_rolie
from otorchestrator.feeds.records import StoredRecord
from otorchestrator.feeds.store import FeedStore, Stored
from otorchestrator.feeds.transport import Fetch, FetchError, Unreachable
from otorchestrator.feeds.verify import Keyring, Refused, Tracking, check_csaf, check_sha512
from otorchestrator.models.advisory import Provenance

WORKERS = 4  # fetch + gpgv in parallel; commits stay in order on the calling thread


@dataclass(frozen=True)
class Refusal:
    name: str
    url: str
    reason: str


@dataclass
class SyncReport:
    feed: str
    listed: int = 0
    stored: list[str] = field(default_factory=list)  # new or revised documents committed by this sync
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    aborted: str | None = None  # why the sync stopped early (source unreachable, listing unusable)

    @property
    def ok(self) -> bool:
        return self.aborted is None and not self.refused


@dataclass(frozen=True)
class _Checked:
    entry: Listed
    fetched_from: str
    data: bytes
    signature: bytes
    hash_file: bytes
    sha512: str
    signer: str
    tracking: Tracking


Progress = Callable[[str, int, int], None]  # (what happened, done, total)


def _listing(feed: FeedConfig, mirrors: dict[str, str], fetch: Fetch) -> tuple[list[Listed], list[Refusal]]:
    root = feed.document_root
    if feed.kind == "rolie":
        listed, skipped = from_rolie(fetch(map_address(feed.location, mirrors)), root)
    else:
        location = feed.location if feed.location.endswith("/") else feed.location + "/"
        changes = fetch(map_address(location + "changes.csv", mirrors))
        try:
            index: bytes | None = fetch(map_address(location + "index.txt", mirrors))
        except Unreachable:
            raise
        except FetchError:
            index = None
        listed, skipped = from_changes(changes, index, feed.index_base or location, root)
    return listed, [Refusal(s.entry, s.entry, s.reason) for s in skipped]


def _check(entry: Listed, mirrors: dict[str, str], fetch: Fetch, keyring: Keyring) -> _Checked:
    source = map_address(entry.url, mirrors)
    data = fetch(source)
    hash_file = fetch(map_address(entry.hash_url, mirrors))
    sha512 = check_sha512(data, hash_file)
    try:
        signature = fetch(map_address(entry.signature_url, mirrors))
    except Unreachable:
        raise
    except FetchError as exc:
        raise Refused(f"missing signature: {exc}") from exc
    signer = keyring.verify(data, signature)
    tracking = check_csaf(data, entry.name)
    return _Checked(entry, source, data, signature, hash_file, sha512, signer, tracking)


def _todo(listed: list[Listed], stored: dict[str, Stored]) -> list[Listed]:
    return [
        e
        for e in listed
        if e.name not in stored or not stored[e.name].intact or stored[e.name].record.listed != e.updated
    ]


def sync_feed(
    feed: FeedConfig,
    mirrors: dict[str, str],
    store: FeedStore,
    keyring: Keyring,
    fetch: Fetch,
    now: Callable[[], datetime],
    progress: Progress | None = None,
) -> SyncReport:
    report = SyncReport(feed.name)
    store.clean()
    try:
        listed, skipped = _listing(feed, mirrors, fetch)
    except (FetchError, ListingError) as exc:
        report.aborted = f"listing unusable: {exc}"
        return report
    report.listed, report.refused = len(listed), skipped
    stored = store.stored()
    todo = _todo(listed, stored)
    report.unchanged = len(listed) - len(todo)
    by_id = {s.record.provenance.advisory: s.record.provenance for s in stored.values() if s.intact}
    try:
        for done, (entry, outcome) in enumerate(_checked(todo, mirrors, fetch, keyring), start=1):
            if isinstance(outcome, Unreachable):
                report.aborted = (
                    f"source unreachable after {done - 1} of {len(todo)}: {outcome}; run again to resume"
                )
                break
            if not isinstance(outcome, _Checked):
                report.refused.append(Refusal(entry.name, entry.url, str(outcome)))
                _say(progress, f"refused {entry.name}: {outcome}", done, len(todo))
                continue
            refusal = _replayed(outcome, by_id)
            if refusal is not None:
                report.refused.append(Refusal(entry.name, entry.url, refusal))
                _say(progress, f"refused {entry.name}: {refusal}", done, len(todo))
                continue
            provenance = Provenance(
                advisory=outcome.tracking.id,
                revision=outcome.tracking.version,
                current_release_date=outcome.tracking.current_release_date,
                feed=feed.name,
                url=entry.url,
                fetched_from=outcome.fetched_from,
                sha512=outcome.sha512,
                signer=outcome.signer,
                fetched_at=now().isoformat().replace("+00:00", "Z"),
            )
            store.commit(
                entry.name,
                outcome.data,
                outcome.signature,
                outcome.hash_file,
                StoredRecord(provenance, entry.updated),
            )
            by_id[provenance.advisory] = provenance
            report.stored.append(entry.name)
            _say(
                progress,
                f"stored {entry.name} ({provenance.advisory} rev {provenance.revision})",
                done,
                len(todo),
            )
    finally:
        store.write_index(store.stored())
    return report


def _replayed(checked: _Checked, by_id: dict[str, Provenance]) -> str | None:
    before = by_id.get(checked.tracking.id)
    if before is None:
        return None
    if (
        checked.tracking.released()
        < Tracking(before.advisory, before.revision, before.current_release_date).released()
    ):
        return (
            f"replayed older revision: {checked.tracking.id} current_release_date "
            f"{checked.tracking.current_release_date} (rev {checked.tracking.version}) is older than "
            f"the stored {before.current_release_date} (rev {before.revision})"
        )
    return None


def _checked(
    todo: list[Listed], mirrors: dict[str, str], fetch: Fetch, keyring: Keyring
) -> Iterator[tuple[Listed, _Checked | Exception]]:
    """Each entry with its checked download or the exception that refused it, in listing order."""

    def one(entry: Listed) -> tuple[Listed, _Checked | Exception]:
        try:
            return entry, _check(entry, mirrors, fetch, keyring)
        except (Refused, FetchError) as exc:
            return entry, exc

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = pool.map(one, todo)
        try:
            yield from results
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _say(progress: Progress | None, text: str, done: int, total: int) -> None:
    if progress is not None:
        progress(text, done, total)
