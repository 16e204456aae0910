"""`otorch feeds sync` against real parts: gpg-made publisher key, gpgv verification, an HTTP server on
loopback serving a re-signed copy of CISA's provider tree (tests/fixtures/csaf-feed: six real documents with
their real .sha512 files), and a directory import of the same tree."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from feeds_helpers import FIXTURE_TREE, Faults, Publisher, copy_tree, feeds_file, serve

from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.feeds.records import read_record, record_path, sha512_hex
from otorchestrator.feeds.store import FeedStore

DOC = "2022/icsa-22-104-11.json"


@pytest.fixture(scope="module")
def publisher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Publisher]:
    pub = Publisher(tmp_path_factory.mktemp("pub") / "gnupg")
    yield pub
    pub.close()


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Publisher]:
    pub = Publisher(tmp_path_factory.mktemp("stranger") / "gnupg", "Someone else <x@example.invalid>")
    yield pub
    pub.close()


@pytest.fixture(scope="module")
def signed_tree(publisher: Publisher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(FIXTURE_TREE, tmp_path_factory.mktemp("signed") / "white", publisher)


@pytest.fixture
def tree(signed_tree: Path, tmp_path: Path) -> Path:
    """This test's own copy of the signed tree (the test may tamper with it)."""
    return Path(shutil.copytree(signed_tree, tmp_path / "served"))


def _sync(state: Path, config: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        cli, ["feeds", "sync", "--json", "--config", str(config), "--state-dir", str(state), *args]
    )
    assert result.exit_code in (ExitCode.OK, ExitCode.INTEGRITY, ExitCode.ERROR), result.output
    return result.exit_code, json.loads(result.stdout)


def _setup(tmp_path: Path, publisher: Publisher, mirror: str, kind: str = "index") -> tuple[Path, Path]:
    key = publisher.export(tmp_path / "publisher.asc")
    return tmp_path / "state", feeds_file(tmp_path / "feeds.yml", key, publisher.fingerprint, mirror, kind)


def _revise(tree: Path, publisher: Publisher | None, name: str, date: str, edit: bool = True) -> Path:
    """The provider publishes a new listing timestamp for `name` (and, with `edit`, new signed bytes)."""
    doc = tree / name
    if edit:
        data = json.loads(doc.read_bytes())
        data["document"]["tracking"]["current_release_date"] = date
        data["document"]["title"] += " (revised)"
        doc.write_text(json.dumps(data, indent=2))
        (tree / (name + ".sha512")).write_text(f"{sha512_hex(doc.read_bytes())}  {doc.name}\n")
        if publisher is not None:
            publisher.sign(doc)
    changes = tree / "changes.csv"
    rows = [r for r in changes.read_text().splitlines() if not r.startswith(f"csaf_files/OT/white/{name},")]
    changes.write_text("\n".join([f"csaf_files/OT/white/{name},{date}", *rows]) + "\n")
    return doc


def test_first_sync_then_no_change_resync(tree: Path, publisher: Publisher, tmp_path: Path) -> None:
    faults = Faults()
    with serve(tree, faults) as url:
        state, config = _setup(tmp_path, publisher, url)
        code, body = _sync(state, config)
        report = body["feeds"][0]
        assert code == 0 and report["refused"] == [] and len(report["stored"]) == report["listed"] == 6
        first = faults.requests
        assert first == 2 + 3 * 6  # changes.csv, index.txt, then document, .sha512, .asc each
        code, body = _sync(state, config)
        assert code == 0 and body["feeds"][0]["stored"] == [] and body["feeds"][0]["unchanged"] == 6
        assert faults.requests - first == 2  # only the listing is read again
    store = FeedStore(state, "cisa-ot")
    for name in report["stored"]:
        served, kept = tree / name, store.document(name)
        assert kept.read_bytes() == served.read_bytes()
        record = read_record(kept)
        assert record is not None
        prov = record.provenance
        assert prov.signer == publisher.fingerprint and prov.sha512 == sha512_hex(kept.read_bytes())
        assert (
            prov.url == f"https://raw.githubusercontent.com/cisagov/CSAF/develop/csaf_files/OT/white/{name}"
        )
        assert prov.fetched_from == url + name and prov.feed == "cisa-ot"
        assert prov.advisory == json.loads(kept.read_bytes())["document"]["tracking"]["id"]
    index = json.loads(store.index.read_text())
    assert sorted(index) == sorted(report["stored"])


def test_rolie_feed_and_directory_import_store_the_same(
    tree: Path, publisher: Publisher, tmp_path: Path
) -> None:
    with serve(tree) as url:
        (tmp_path / "rolie").mkdir()
        state, config = _setup(tmp_path / "rolie", publisher, url, kind="rolie")
        code, body = _sync(state, config)
    assert code == 0 and len(body["feeds"][0]["stored"]) == 6
    (tmp_path / "dir").mkdir()
    dstate, dconfig = _setup(tmp_path / "dir", publisher, str(tree) + "/")  # removable media
    code, dbody = _sync(dstate, dconfig)
    assert code == 0 and dbody["feeds"][0]["stored"] == body["feeds"][0]["stored"]
    for name in dbody["feeds"][0]["stored"]:
        a, b = FeedStore(state, "cisa-ot").document(name), FeedStore(dstate, "cisa-ot").document(name)
        assert a.read_bytes() == b.read_bytes()
        record = read_record(b)
        assert record is not None and record.provenance.fetched_from == str(tree / name)


def _tamper_cases(tree: Path, publisher: Publisher, stranger: Publisher) -> dict[str, str]:
    """Each case breaks one document the way an attacker or a broken mirror would; -> expected reason."""
    cases = {}
    doc = _revise(tree, None, "2022/icsa-22-104-11.json", "2023-01-01T00:00:00Z")  # signature not renewed
    cases["2022/icsa-22-104-11.json"] = "bad signature"
    doc = _revise(tree, publisher, "2022/icsa-22-088-04.json", "2023-01-01T00:00:00Z")
    (tree / "2022/icsa-22-088-04.json.sha512").write_text(f"{'0' * 128}  {doc.name}\n")
    cases["2022/icsa-22-088-04.json"] = "hash mismatch"
    _revise(tree, stranger, "2022/icsa-22-013-04.json", "2023-01-01T00:00:00Z")
    cases["2022/icsa-22-013-04.json"] = "wrong signer"
    doc = _revise(tree, publisher, "2022/icsa-22-349-08.json", "2023-01-01T00:00:00Z")
    Path(str(doc) + ".asc").unlink()
    cases["2022/icsa-22-349-08.json"] = "missing signature"
    _revise(tree, publisher, "2021/icsa-21-040-10.json", "2020-01-01T00:00:00Z")  # signed, but older
    cases["2021/icsa-21-040-10.json"] = "replayed older revision"
    doc = tree / "2021/icsa-21-035-02.json"
    doc.write_text('{"document": {"title": "not an advisory"}}')
    (tree / "2021/icsa-21-035-02.json.sha512").write_text(f"{sha512_hex(doc.read_bytes())}  {doc.name}\n")
    publisher.sign(doc)
    _revise(tree, None, "2021/icsa-21-035-02.json", "2023-01-01T00:00:00Z", edit=False)
    cases["2021/icsa-21-035-02.json"] = "not CSAF"
    return cases


def test_every_tampering_is_refused_and_the_stored_copy_kept(
    tree: Path, publisher: Publisher, stranger: Publisher, tmp_path: Path
) -> None:
    with serve(tree) as url:
        state, config = _setup(tmp_path, publisher, url)
        assert _sync(state, config)[0] == 0
        store = FeedStore(state, "cisa-ot")
        before = {
            n: (store.document(n).read_bytes(), record_path(store.document(n)).read_bytes())
            for n in store.stored()
        }
        cases = _tamper_cases(tree, publisher, stranger)
        code, body = _sync(state, config)
    refused = {r["name"]: r["reason"] for r in body["feeds"][0]["refused"]}
    assert code == ExitCode.INTEGRITY and body["feeds"][0]["stored"] == []
    assert sorted(refused) == sorted(cases)
    for name, reason in cases.items():
        assert refused[name].startswith(reason), (name, refused[name])
    after = {
        n: (store.document(n).read_bytes(), record_path(store.document(n)).read_bytes())
        for n in store.stored()
    }
    assert after == before
    assert all(s.intact for s in store.stored().values())


def test_a_signer_in_the_key_file_but_not_pinned_is_refused(
    tree: Path, publisher: Publisher, stranger: Publisher, tmp_path: Path
) -> None:
    key = tmp_path / "both.asc"
    key.write_bytes(
        publisher.export(tmp_path / "a.asc").read_bytes() + stranger.export(tmp_path / "b.asc").read_bytes()
    )
    stranger.sign(tree / DOC)
    with serve(tree) as url:
        config = feeds_file(tmp_path / "feeds.yml", key, publisher.fingerprint, url)
        code, body = _sync(tmp_path / "state", config)
    (refusal,) = body["feeds"][0]["refused"]
    assert code == ExitCode.INTEGRITY and refusal["name"] == DOC
    assert (
        refusal["reason"] == f"wrong signer: signed by {stranger.fingerprint}, not a pinned key of this feed"
    )


def test_truncated_download_is_refused_then_fetched_whole(
    tree: Path, publisher: Publisher, tmp_path: Path
) -> None:
    faults = Faults(truncate={"/" + DOC})
    with serve(tree, faults) as url:
        state, config = _setup(tmp_path, publisher, url)
        code, body = _sync(state, config)
        (refusal,) = body["feeds"][0]["refused"]
        assert (
            code == ExitCode.INTEGRITY
            and refusal["name"] == DOC
            and "truncated download" in refusal["reason"]
        )
        assert not FeedStore(state, "cisa-ot").document(DOC).exists()
        faults.truncate.clear()
        code, body = _sync(state, config)
    assert code == 0 and body["feeds"][0]["stored"] == [DOC]


def test_server_dying_mid_sync_then_resume(
    tree: Path, publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("otorchestrator.feeds.sync.WORKERS", 1)  # requests in listing order: the cut is exact
    with serve(tree, Faults(die_after=2 + 3 * 2 + 1)) as url:
        state, config = _setup(tmp_path, publisher, url)
        code, body = _sync(state, config)
    report = body["feeds"][0]
    assert (
        code == ExitCode.ERROR
        and "unreachable after 2 of 6" in report["aborted"]
        and len(report["stored"]) == 2
    )
    assert all(s.intact for s in FeedStore(state, "cisa-ot").stored().values())
    with serve(tree) as url:  # back (on another port): the mirror address in the feeds file follows
        state, config = _setup(tmp_path, publisher, url)
        code, again = _sync(state, config)
    assert code == 0 and sorted(report["stored"] + again["feeds"][0]["stored"]) == sorted(
        FeedStore(state, "cisa-ot").stored()
    )
    assert len(FeedStore(state, "cisa-ot").stored()) == 6 and again["feeds"][0]["unchanged"] == len(
        report["stored"]
    )


def test_incremental_sync_fetches_only_the_three_changed(
    tree: Path, publisher: Publisher, tmp_path: Path
) -> None:
    faults = Faults()
    with serve(tree, faults) as url:
        state, config = _setup(tmp_path, publisher, url)
        assert _sync(state, config)[0] == 0
        changed = ["2021/icsa-21-040-10.json", "2022/icsa-22-013-04.json", "2022/icsa-22-349-08.json"]
        for name in changed:
            _revise(tree, publisher, name, "2023-02-01T00:00:00Z")
        start = faults.requests
        code, body = _sync(state, config)
        assert faults.requests - start == 2 + 3 * 3
    assert code == 0 and body["feeds"][0]["stored"] == changed and body["feeds"][0]["unchanged"] == 3
    for name in changed:
        record = read_record(FeedStore(state, "cisa-ot").document(name))
        assert record is not None and record.provenance.current_release_date == "2023-02-01T00:00:00Z"


def test_a_sync_killed_between_renames_is_repaired(tree: Path, publisher: Publisher, tmp_path: Path) -> None:
    """A document renamed into place without its record (kill -9 between the two renames), and a temporary
    file left behind: the document is not taken as verified, and the next sync fetches it again."""
    with serve(tree) as url:
        state, config = _setup(tmp_path, publisher, url)
        assert _sync(state, config)[0] == 0
        store = FeedStore(state, "cisa-ot")
        doc = store.document(DOC)
        doc.write_bytes(doc.read_bytes() + b"\n")
        leftover = doc.with_name(f".{doc.name}.tmp-999")
        leftover.write_bytes(b"half")
        assert not store.stored()[DOC].intact
        code, body = _sync(state, config)
    assert code == 0 and body["feeds"][0]["stored"] == [DOC] and not leftover.exists()
    assert doc.read_bytes() == (tree / DOC).read_bytes() and store.stored()[DOC].intact


def test_kev_sync_records_hash_and_refuses_a_wrong_shape(tmp_path: Path, publisher: Publisher) -> None:
    served = tmp_path / "kev"
    served.mkdir()
    kev = Path(__file__).resolve().parents[2] / "inventories" / "lab" / "kev.json"
    shutil.copyfile(kev, served / "kev.json")
    with serve(served) as url:
        key = publisher.export(tmp_path / "publisher.asc")
        config = feeds_file(tmp_path / "feeds.yml", key, publisher.fingerprint, url, kev=url + "kev.json")
        state = tmp_path / "state"
        code, body = _sync(state, config, "kev")
        assert (
            code == 0
            and body["kev"]["stored"]
            and body["kev"]["sha256"] == hashlib.sha256(kev.read_bytes()).hexdigest()
        )
        stored = state / "feeds" / "kev" / "known_exploited_vulnerabilities.json"
        record = json.loads((stored.parent / (stored.name + ".provenance")).read_text())
        assert record["sha256"] == body["kev"]["sha256"] and record["fetched_at"]
        (served / "kev.json").write_text('{"title": "not KEV", "vulnerabilities": {"a": 1}}')
        code, body = _sync(state, config, "kev")
    assert code == ExitCode.INTEGRITY and "not a KEV catalog" in body["kev"]["refused"]
    assert stored.read_bytes() == kev.read_bytes()


_SYNC = "import sys; from otorchestrator.cli.main import cli; sys.exit(cli.main(sys.argv[1:]))"


def test_a_sync_process_killed_with_sigkill_resumes_whole(
    tree: Path, publisher: Publisher, tmp_path: Path
) -> None:
    """A real `otorch feeds sync` process killed with SIGKILL part-way: nothing half-done is taken as
    verified, and the next sync completes the store with every document intact and no temporary file left."""
    with serve(tree, Faults(delay_s=0.3)) as url:
        state, config = _setup(tmp_path, publisher, url)
        args = ["feeds", "sync", "--config", str(config), "--state-dir", str(state)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.Popen([sys.executable, "-c", _SYNC, *args], env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            store = FeedStore(state, "cisa-ot")
            while time.monotonic() < deadline and proc.poll() is None:
                if state.exists() and 1 <= len(store.stored()) < 6:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the sync ended before it could be killed part-way"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        before = store.stored()
        assert 1 <= len(before) < 6 and all(s.intact for s in before.values())
        code, body = _sync(state, config)
    assert code == 0 and len(body["feeds"][0]["stored"]) + body["feeds"][0]["unchanged"] == 6
    stored = FeedStore(state, "cisa-ot").stored()
    assert len(stored) == 6 and all(s.intact for s in stored.values())
    assert [p for p in state.rglob("*") if ".tmp-" in p.name] == []
    for name in stored:
        assert FeedStore(state, "cisa-ot").document(name).read_bytes() == (tree / name).read_bytes()
