"""The HTML run report as a browser sees it: headless Chromium (Debian's `chromium`) renders the file,
takes a screenshot and dumps the DOM. No network: the page is self-contained."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from otorchestrator.reporting.build import build_run_report
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.render import render_run_html
from otorchestrator.reporting.sources import load_run_sources

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium); CI installs it",
)


def _fixture_module() -> ModuleType:
    path = Path(__file__).parents[1] / "fixtures" / "report_store.py"
    spec = importlib.util.spec_from_file_location("report_store", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_store"] = module
    spec.loader.exec_module(module)
    return module


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """(width, height, the distinct RGB colours) of an 8-bit RGB/RGBA non-interlaced PNG (stdlib only)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[i] = (line[i] + pred) & 0xFF
        if y % 4 == 0:  # every 4th row is plenty to find the colours
            colours.update((line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp * 2))
        previous = line
    return width, height, colours


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fx = _fixture_module()
    root = tmp_path_factory.mktemp("browser")
    run = fx.make_run_store(root)
    report = build_run_report(
        load_run_sources(run.paths, run.run_id), run.finished_at, ReportRedactor([fx.SECRET])
    )
    path = root / "report.html"
    path.write_text(render_run_html(report), encoding="utf-8")
    return path


def test_dom_holds_the_expected_content(report_file: Path, tmp_path: Path) -> None:
    proc = _chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "<title>otorch run report R-2026-0001</title>" in dom
    for expected in (
        'id="run-status">completed<',
        "Wave timeline",
        "canary",
        "wave-1",
        "nw-hmi-02",
        "nw-gw-01",
        "service_running:nwc-gateway",  # the failing check
        "1 MiB free on /opt/nwc, 20 MiB needed",  # the blocked host's check detail
        "verification failed: service_running:nwc-gateway",  # the rollback's reason
        "chain intact",
        "***REDACTED***",
    ):
        assert expected in dom, expected
    assert 'id="failure-count">2<' in dom and 'id="rollback-count">1<' in dom
    assert "hunter2" not in dom and "s3cr3t-become" not in dom
    head = report_file.read_text(encoding="utf-8").split('id="audit-head">seq ', 1)[1].split("<", 1)[0]
    assert "sha256:" in head and head in dom


def test_screenshot_shows_the_report(report_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report_file.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    width, height, colours = _png_pixels(shot)
    assert (width, height) == (1280, 2000)
    assert len(colours) > 50, "the screenshot is (nearly) blank"

    def near(rgb: tuple[int, int, int]) -> bool:
        return any(sum(abs(a - b) for a, b in zip(c, rgb, strict=True)) <= 12 for c in colours)

    assert near((0x2B, 0xB6, 0x73)), "no green (succeeded) badge or bar rendered"
    assert near((0xE5, 0x48, 0x4D)), "no red (failed) badge or bar rendered"
    assert near((0x1D, 0x23, 0x30)), "no dark output excerpt block rendered"
