"""Headless Chromium (Debian's `chromium`) for the browser tests: run it, decode its PNG screenshots with the
stdlib, find where it laid out elements (a probe script injected into a copy of the page dumps their boxes
into the DOM; the page itself has no script), and keep the screenshots as test artifacts under out/."""

from __future__ import annotations

import html
import importlib.util
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "Debian's chromium is not installed (apt-get install -y chromium); CI installs it"


def load_fixture(name: str) -> ModuleType:
    """A module of tests/fixtures, loaded by path."""
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--force-device-scale-factor=1",
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


RGB = tuple[int, int, int]


class Png:
    """An 8-bit RGB/RGBA non-interlaced PNG decoded with the stdlib: `pixel(x, y)` is (r, g, b)."""

    def __init__(self, path: Path) -> None:
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
        self.width, self.height, self.bpp = width, height, 3 if colour_type == 2 else 4
        raw, stride, bpp = zlib.decompress(idat), width * self.bpp, self.bpp
        previous = bytearray(stride)
        self.rows: list[bytes] = []
        for y in range(height):
            start = y * (stride + 1)
            kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
            if kind == 2:
                line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
            elif kind in (1, 3, 4):
                for i in range(stride):
                    left = line[i - bpp] if i >= bpp else 0
                    up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
                    if kind == 1:
                        line[i] = (line[i] + left) & 0xFF
                    elif kind == 3:
                        line[i] = (line[i] + (left + up) // 2) & 0xFF
                    else:
                        p = left + up - up_left
                        pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                        pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                        line[i] = (line[i] + pred) & 0xFF
            self.rows.append(bytes(line))
            previous = line

    def pixel(self, x: int, y: int) -> RGB:
        row, i = self.rows[y], x * self.bpp
        return row[i], row[i + 1], row[i + 2]

    def region(self, box: Sequence[float], inset: int = 1) -> list[RGB]:
        """The pixels of a CSS box [left, top, width, height] (device scale 1), `inset` pixels inside it."""
        left, top, width, height = box
        x0, y0 = math.ceil(left) + inset, math.ceil(top) + inset
        x1, y1 = math.floor(left + width) - inset, math.floor(top + height) - inset
        assert x0 < x1 and y0 < y1 and x1 <= self.width and y1 <= self.height, (
            f"box {box} not on the screenshot"
        )
        return [self.pixel(x, y) for y in range(y0, y1) for x in range(x0, x1)]


def hex_rgb(colour: str) -> RGB:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def share(pixels: Sequence[RGB], colour: RGB, tolerance: int = 12) -> float:
    """How much of `pixels` is `colour` (sum of channel differences within `tolerance`)."""
    near = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, colour, strict=True)) <= tolerance)
    return near / len(pixels)


ARTIFACTS = Path(os.environ.get("OTORCH_TEST_ARTIFACTS") or Path(__file__).parents[2] / "out" / "screenshots")

# Where the browser put each row of the window timeline and what is drawn in it, as CSS-pixel boxes.
TIMELINE_PROBE = """<script>
(function () {
  function box(el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }
  function all(root, sel) { return Array.prototype.map.call(root.querySelectorAll(sel), box); }
  var svg = document.getElementById("window-timeline"), out = {svg: box(svg), rows: {}, waves: {},
             page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]};
  svg.querySelectorAll("g.tl-row").forEach(function (g) {
    out.rows[g.getAttribute("data-asset")] = {
      outcome: g.getAttribute("data-outcome"), name: box(g.querySelector(".tl-name")),
      windows: all(g, ".tl-window"), slot: all(g, ".tl-slot"), reserve: all(g, ".tl-reserve"),
      pill: all(g, ".tl-pill"),
      phases: Array.prototype.map.call(g.querySelectorAll(".tl-phase"), function (p) {
        return {box: box(p), phase: p.getAttribute("data-phase"), ok: p.getAttribute("data-ok") === "true"};
      })};
  });
  svg.querySelectorAll("g.tl-wave").forEach(function (g) {
    out.waves[g.getAttribute("data-wave")] = {plan: all(g, ".tl-wave-plan"), ran: all(g, ".tl-wave-actual")};
  });
  document.documentElement.setAttribute("data-layout", JSON.stringify(out));
})();
</script>"""


def probe_layout(page: Path, tmp_path: Path, viewport: tuple[int, int], script: str) -> dict[str, Any]:
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), "utf-8")
    size = f"--window-size={viewport[0]},{viewport[1]}"
    proc = chromium(tmp_path, size, "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', proc.stdout)
    assert found, "the layout probe did not run"
    layout: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return layout


def screenshot_of(page: Path, tmp_path: Path, viewport: tuple[int, int], keep_as: str) -> Png:
    shot = tmp_path / keep_as
    size = f"--window-size={viewport[0]},{viewport[1]}"
    proc = chromium(tmp_path, f"--screenshot={shot}", size, page.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / keep_as)
    return Png(shot)


def inside(inner: Sequence[float], outer: Sequence[float], slack: float = 1.0) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[0] + inner[2] <= outer[0] + outer[2] + slack
        and inner[1] + inner[3] <= outer[1] + outer[3] + slack
    )


def union(boxes: Sequence[Sequence[float]]) -> list[float]:
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return [left, top, right - left, bottom - top]
