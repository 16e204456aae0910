"""The whole 2021-2022 CISA OT tree (773 documents, ../shared/data/csaf-feed), re-signed by a test key,
synced from a loopback HTTP server and from a directory; `otorch plan`'s planner on the synced store gives the
plan the folder gives, plus the stored revision behind every finding."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from feeds_helpers import ROOT, SHARED_TREE, Publisher, copy_tree, feeds_file, serve

from otorchestrator.feeds.config import load_feeds
from otorchestrator.feeds.store import FeedStore
from otorchestrator.feeds.sync import SyncReport, sync_feed
from otorchestrator.feeds.transport import fetch
from otorchestrator.feeds.verify import Keyring
from otorchestrator.intake.csaf import load_advisories
from otorchestrator.models.asset import Inventory
from otorchestrator.models.plan import Plan
from otorchestrator.planning.plan import PlanInputs, build_plan

pytestmark = [
    pytest.mark.external_data,
    pytest.mark.skipif(not SHARED_TREE.is_dir(), reason=f"CISA provider tree not present at {SHARED_TREE}"),
]
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


# Every 6th document (129 of 773): re-signing and syncing all of them takes about a minute on a shared CI
# machine, so the whole tree runs in bench/feed_sync.py, or here with OTORCH_FEEDS_FULL_TREE=1.
FULL = os.environ.get("OTORCH_FEEDS_FULL_TREE") == "1"
EVERY = 1 if FULL else 6


def _subset(source: Path, dest: Path) -> Path:
    """The provider tree with every EVERY-th document (and its .sha512), its listing cut likewise."""
    names = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.json") if p.parent != source)
    keep = set(names[::EVERY])
    for name in keep:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, dest / name)
        shutil.copyfile(source / (name + ".sha512"), dest / (name + ".sha512"))
    rows = (source / "changes.csv").read_text().splitlines()
    (dest / "changes.csv").write_text("".join(r + "\n" for r in rows if r.split(",")[0][20:] in keep))
    index = (source / "index.txt").read_text().splitlines()
    (dest / "index.txt").write_text("".join(r + "\n" for r in index if r[20:] in keep))
    return dest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Publisher, Path, Path]]:
    """(publisher, the re-signed tree, the same documents as a plain folder like ../shared/data/csaf)."""
    pub = Publisher(tmp_path_factory.mktemp("pub") / "gnupg")
    plain = _subset(SHARED_TREE, tmp_path_factory.mktemp("plain") / "white")
    tree = copy_tree(plain, tmp_path_factory.mktemp("tree") / "white", pub)
    for extra in ("changes.csv", "index.txt"):
        (plain / extra).unlink()
    for sha in plain.rglob("*.sha512"):
        sha.unlink()
    yield pub, tree, plain
    pub.close()


def _sync(config: Path, state: Path) -> SyncReport:
    site = load_feeds(config)
    feed = site.feeds[0]
    with Keyring(site.key_path(feed), feed.fingerprints) as keyring:
        return sync_feed(
            feed, site.mapping(feed.mirrors), FeedStore(state, feed.name), keyring, fetch, lambda: NOW
        )


def test_full_tree_from_loopback_then_from_a_directory(
    corpus: tuple[Publisher, Path], tmp_path: Path
) -> None:
    pub, tree, plain = corpus
    total = len(list(plain.rglob("*.json")))
    assert total == (773 if FULL else 129)
    key = pub.export(tmp_path / "pub.asc")
    with serve(tree) as url:
        config = feeds_file(tmp_path / "http.yml", key, pub.fingerprint, url)
        start = time.perf_counter()
        report = _sync(config, tmp_path / "http")
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = _sync(config, tmp_path / "http")
        resync = time.perf_counter() - start
    assert report.refused == [] and report.aborted is None and len(report.stored) == report.listed == total
    assert again.stored == [] and again.unchanged == total and resync < 3.0, resync
    print(f"first sync of {total}: {total / first:.0f} documents/s, no-change resync {resync:.2f} s")
    dconfig = feeds_file(tmp_path / "dir.yml", key, pub.fingerprint, str(tree) + "/")
    from_dir = _sync(dconfig, tmp_path / "dir")
    assert from_dir.stored == report.stored and from_dir.refused == []
    for name in report.stored:
        assert (tmp_path / "http/feeds/cisa-ot/advisories" / name).read_bytes() == (tree / name).read_bytes()


def _inputs(advisories: Any) -> PlanInputs:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import plan_scale  # the benchmark's inventory drawn from the advisories' own products
    finally:
        sys.path.pop(0)
    pool, catalog = plan_scale.product_pool(advisories)
    inventory = Inventory(source="corpus", assets=plan_scale.assets(300, pool))
    return PlanInputs(inventory=inventory, advisories=advisories, catalog=catalog)


def _without_provenance(plan: Plan) -> dict[str, Any]:
    data = plan.model_dump(mode="json")
    for key in ("items", "unpatched"):
        for entry in data[key]:
            entry.pop("provenance")
    return data


def test_plan_on_the_synced_store_is_the_folders_plus_provenance(
    corpus: tuple[Publisher, Path], tmp_path: Path
) -> None:
    pub, tree, plain = corpus
    shutil.copytree(tree, tmp_path / "media")
    config = feeds_file(
        tmp_path / "dir.yml", pub.export(tmp_path / "pub.asc"), pub.fingerprint, str(tmp_path / "media") + "/"
    )
    assert _sync(config, tmp_path / "state").refused == []
    from_store, store_problems = load_advisories([FeedStore(tmp_path / "state", "cisa-ot").advisories])
    from_folder, folder_problems = load_advisories([plain])
    assert store_problems == folder_problems and len(from_store) == len(from_folder) == (773 if FULL else 129)
    on_folder = build_plan(_inputs(from_folder), NOW)
    on_store = build_plan(_inputs(from_store), NOW)
    assert _without_provenance(on_store) == _without_provenance(on_folder) and on_store.items
    by_id = {a.id: a.provenance for a in from_store}
    for finding in (*on_store.items, *on_store.unpatched):
        assert finding.provenance and all(p == by_id[p.advisory] for p in finding.provenance)
        assert all(p.signer == pub.fingerprint and p.feed == "cisa-ot" for p in finding.provenance)
    assert all(not f.provenance for f in (*on_folder.items, *on_folder.unpatched))
