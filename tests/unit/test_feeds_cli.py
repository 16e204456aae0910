"""`otorch feeds add` / `list` and the feeds file: written atomically, read back, mistakes named."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.feeds.config import load_feeds, map_address

FP = "0123456789ABCDEF0123456789ABCDEF01234567"
BASE = "https://raw.githubusercontent.com/cisagov/CSAF/develop/"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_add_then_list(tmp_path: Path) -> None:
    config, state = tmp_path / "feeds.yml", tmp_path / "state"
    code, out = _run(
        "feeds",
        "add",
        "cisa-ot",
        BASE + "csaf_files/OT/white/",
        "--kind",
        "index",
        "--index-base",
        BASE,
        "--key",
        "keys/cisa.asc",
        "--fingerprint",
        FP.lower(),
        "--mirror",
        f"{BASE}=http://mirror.plant/cisa/",
        "--config",
        str(config),
        "--state-dir",
        str(state),
    )
    assert code == 0, out
    code, out = _run("feeds", "add", "kev", "/media/usb/kev.json", "--kind", "kev", "--config", str(config))
    assert code == 0, out
    site = load_feeds(config)
    feed = site.feed("cisa-ot")
    assert feed.fingerprints == (FP,) and site.key_path(feed) == tmp_path / "keys" / "cisa.asc"
    assert site.kev is not None and site.kev.location == "/media/usb/kev.json"
    assert map_address(BASE + "csaf_files/OT/white/2022/a.json", site.mapping(feed.mirrors)) == (
        "http://mirror.plant/cisa/csaf_files/OT/white/2022/a.json"
    )
    code, out = _run("feeds", "list", "--json", "--config", str(config), "--state-dir", str(state))
    body = json.loads(out)
    assert code == 0 and body["feeds"][0]["documents"] == 0 and body["feeds"][0]["last_fetched"] == "never"


def test_mistakes_are_named(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yml"
    code, out = _run("feeds", "add", "cisa-ot", "/x", "--kind", "rolie", "--config", str(config))
    assert code == 2 and "--key FILE and at least one --fingerprint" in out
    code, out = _run(
        "feeds",
        "add",
        "cisa",
        "/x",
        "--kind",
        "rolie",
        "--key",
        "k",
        "--fingerprint",
        "ABC",
        "--config",
        str(config),
    )
    assert code == 2 and "40 or 64 hex digits" in out and not config.exists()
    config.write_text(
        f"feeds:\n  - name: cisa\n    kind: index\n    location: /x\n    key_file: k\n"
        f"    fingerprint: [{FP}]\n"
    )
    code, out = _run("feeds", "sync", "--config", str(config), "--state-dir", str(tmp_path / "s"))
    assert (
        code == ExitCode.INPUT_INVALID
        and "$.feeds[0].fingerprint" in out
        and "did you mean 'fingerprints'" in out
    )
    config.write_text(
        f"feeds:\n  - name: cisa\n    kind: index\n    location: /x\n    key_file: k\n"
        f"    fingerprints: [{FP}]\n"
    )
    code, out = _run("feeds", "sync", "cisaa", "--config", str(config), "--state-dir", str(tmp_path / "s"))
    assert code == 2 and "did you mean 'cisa'" in out
    code, out = _run("feeds", "sync", "--config", str(config), "--state-dir", str(tmp_path / "s"))
    assert code == ExitCode.INPUT_INVALID and "key file unusable" in out
