"""Reading a feed's files: over HTTP(S) (a publisher or a plant's mirror) or from a directory (a mirror on
disk, removable media). An address is a URL (`http://`, `https://`, `file://`) or a local path."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

TIMEOUT = 30.0
MAX_BYTES = 64 * 1024 * 1024  # no CSAF document, feed or KEV catalog comes near this

Fetch = Callable[[str], bytes]


class FetchError(Exception):
    """One file could not be read (not found, truncated, too large): that file is refused."""


class Unreachable(FetchError):
    """The source itself is gone (connection refused or reset, timeout): the sync stops and resumes later."""


def fetch(address: str) -> bytes:
    if address.startswith(("http://", "https://")):
        return _http(address)
    path = (
        Path(urllib.parse.unquote(address[len("file://") :]))
        if address.startswith("file://")
        else Path(address)
    )
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FetchError(f"{address}: {size} bytes, more than {MAX_BYTES}")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise FetchError(f"{address}: not found") from exc
    except OSError as exc:
        raise FetchError(f"{address}: unreadable ({exc.strerror or exc})") from exc


def _http(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "otorchestrator-feeds"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            declared = response.headers.get("Content-Length")
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except http.client.IncompleteRead as exc:
        total = (exc.expected or 0) + len(exc.partial)
        raise FetchError(f"{url}: truncated download ({len(exc.partial)} of {total} bytes)") from exc
    except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{url}: {reason}") from exc
    if len(body) > MAX_BYTES:
        raise FetchError(f"{url}: more than {MAX_BYTES} bytes")
    if declared is not None and declared.isdigit() and int(declared) != len(body):
        raise FetchError(f"{url}: truncated download ({len(body)} of {declared} bytes)")
    return body
