"""Feed sync speed: a first sync of the 2021-2022 CISA OT tree (773 documents, ../shared/data/csaf-feed,
re-signed by a key made here, the real .sha512 files kept) from an HTTP server on loopback (a separate
`python -m http.server` process), then a no-change resync (target: under 1 s). Medians of --repeat runs.

    python bench/feed_sync.py [--repeat 3] [--tree ../shared/data/csaf-feed/OT/white]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "unit"))

from feeds_helpers import SHARED_TREE, Publisher, copy_tree, feeds_file  # noqa: E402

from otorchestrator.feeds.config import load_feeds  # noqa: E402
from otorchestrator.feeds.store import FeedStore  # noqa: E402
from otorchestrator.feeds.sync import SyncReport, sync_feed  # noqa: E402
from otorchestrator.feeds.transport import fetch  # noqa: E402
from otorchestrator.feeds.verify import Keyring  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sync(config: Path, state: Path) -> tuple[float, SyncReport]:
    site = load_feeds(config)
    feed = site.feeds[0]
    start = time.perf_counter()
    with Keyring(site.key_path(feed), feed.fingerprints) as keyring:
        report = sync_feed(
            feed,
            site.mapping(feed.mirrors),
            FeedStore(state, feed.name),
            keyring,
            fetch,
            lambda: datetime.now(UTC),
        )
    return time.perf_counter() - start, report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=SHARED_TREE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feed-bench-") as tmp:
        work = Path(tmp)
        pub = Publisher(work / "gnupg")
        start = time.perf_counter()
        tree = copy_tree(args.tree, work / "white", pub)
        documents = len([p for p in tree.rglob("*.json") if p.parent != tree])
        print(f"re-signed {documents} documents in {time.perf_counter() - start:.1f} s (gpg, 4 in parallel)")
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tree)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            config = feeds_file(
                work / "feeds.yml", pub.export(work / "pub.asc"), pub.fingerprint, f"http://127.0.0.1:{port}/"
            )
            firsts, resyncs = [], []
            for n in range(args.repeat):
                state = work / f"state{n}"
                took, report = _sync(config, state)
                assert report.ok and len(report.stored) == documents, (report.refused[:3], report.aborted)
                firsts.append(took)
                took, report = _sync(config, state)
                assert report.ok and not report.stored and report.unchanged == documents
                resyncs.append(took)
        finally:
            server.terminate()
            server.wait(timeout=10)
            pub.close()
    first, resync = statistics.median(firsts), statistics.median(resyncs)
    print(
        f"first sync: median {first:.1f} s = {documents / first:.0f} documents/s (0 refused), "
        f"runs {[round(t, 1) for t in firsts]}"
    )
    print(f"no-change resync: median {resync:.2f} s (target < 1 s): {'met' if resync < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
