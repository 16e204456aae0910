"""Real parts for the feed tests: a publisher key made by gpg in a temporary GNUPGHOME, a copy of a CSAF
provider tree re-signed with it (the real .sha512 files kept as they are), and an HTTP server on loopback."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TREE = ROOT / "tests" / "fixtures" / "csaf-feed" / "OT" / "white"
SHARED_TREE = ROOT.parent / "shared" / "data" / "csaf-feed" / "OT" / "white"
PUBLISHER = "https://raw.githubusercontent.com/cisagov/CSAF/develop/"
LOCATION = PUBLISHER + "csaf_files/OT/white/"
ROLIE = LOCATION + "cisa-csaf-ot-feed-tlp-white.json"


class Publisher:
    """An OpenPGP signing key of its own (ed25519, no passphrase) in a private GNUPGHOME."""

    def __init__(self, home: Path, uid: str = "Test CSAF publisher <csaf@example.invalid>") -> None:
        self.home = home
        home.mkdir(mode=0o700, parents=True)
        self._gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
        listed = self._gpg("--with-colons", "--fingerprint", "--list-secret-keys").decode()
        self.fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))

    def _gpg(self, *args: str) -> bytes:
        return subprocess.run(
            ["gpg", "--batch", "--no-tty", "--quiet", "--homedir", str(self.home), *args],
            check=True,
            capture_output=True,
        ).stdout

    def export(self, path: Path) -> Path:
        path.write_bytes(self._gpg("--armor", "--export", self.fingerprint))
        return path

    def sign(self, document: Path) -> None:
        self._gpg("--yes", "--armor", "--detach-sign", "-o", str(document) + ".asc", str(document))

    def sign_all(self, documents: list[Path]) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self.sign, documents))

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], check=False)


def copy_tree(source: Path, dest: Path, publisher: Publisher) -> Path:
    """The provider tree without CISA's signatures, every document re-signed by `publisher`."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.asc"))
    publisher.sign_all(sorted(dest.rglob("*.json")))
    (dest / "cisa-csaf-ot-feed-tlp-white.json.asc").unlink(
        missing_ok=True
    )  # the ROLIE feed itself is not a document
    return dest


@dataclass
class Faults:
    """What the server does wrong: cut a file short, or stop answering after `die_after` requests."""

    truncate: set[str] = field(default_factory=set)  # URL paths sent with a Content-Length they do not have
    die_after: int | None = None
    delay_s: float = 0.0  # every answer waits this long (a slow mirror: room to kill a sync mid-way)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(SimpleHTTPRequestHandler):
    faults: Faults
    server_ref: list[ThreadingHTTPServer]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        with self.faults.lock:
            self.faults.requests += 1
            dying = self.faults.die_after is not None and self.faults.requests > self.faults.die_after
        if self.faults.delay_s:
            time.sleep(self.faults.delay_s)
        if dying:
            self.close_connection = True
            self.connection.close()  # the connection drops, as when the server process is killed
            threading.Thread(target=_die, args=(self.server_ref[0],), daemon=True).start()
            return
        if self.path in self.faults.truncate:
            path = Path(self.translate_path(self.path))
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().do_GET()


def _die(server: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket: later connections are refused."""
    server.shutdown()
    server.server_close()


@contextmanager
def serve(directory: Path, faults: Faults | None = None) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) serving `directory`; yields its base URL (ending in /)."""
    ref: list[ThreadingHTTPServer] = []
    handler = type("Handler", (_Handler,), {"faults": faults or Faults(), "server_ref": ref})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
    ref.append(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def lab_store(tmp_path: Path, source: Path) -> Path:
    """The advisories of `source` as a feed store keeps them: each document with its provenance record."""
    from otorchestrator.feeds.records import StoredRecord, record_path, sha512_hex
    from otorchestrator.models.advisory import Provenance

    store = tmp_path / "advisories"
    shutil.copytree(source, store)
    for doc in sorted(store.glob("*.json")):
        prov = Provenance(
            advisory=doc.stem.upper(),
            revision="1",
            current_release_date="2026-01-01T00:00:00Z",
            feed="lab",
            url=f"https://vendor.example/csaf/{doc.name}",
            fetched_from=f"http://127.0.0.1:1/{doc.name}",
            sha512=sha512_hex(doc.read_bytes()),
            signer="A" * 40,
            fetched_at="2026-03-01T00:00:00Z",
        )
        record_path(doc).write_bytes(StoredRecord(prov, "2026-01-01T00:00:00Z").to_json())
    return store


def feeds_file(
    path: Path, key: Path, fingerprint: str, mirror: str, kind: str = "index", kev: str = ""
) -> Path:
    location = ROLIE if kind == "rolie" else LOCATION
    text = (
        f"mirrors:\n  {LOCATION!r}: {mirror!r}\n"
        f"feeds:\n  - name: cisa-ot\n    kind: {kind}\n    location: {location}\n"
        f"    index_base: {PUBLISHER}\n    key_file: {key}\n    fingerprints: [{fingerprint}]\n"
    )
    if kev:
        text += f"kev:\n  location: {kev}\n"
    path.write_text(text)
    return path
