"""The cyclic garbage collector paused around work that allocates millions of small acyclic objects.

Planning, hashing a plan, staging waves and reading a large inventory build many small objects next to a
large live heap; the collector's repeated full passes over that heap took about half of their time at 10k
assets (bench/). Reference counting still frees garbage while it is paused; the collector's previous state
is restored afterwards (a caller that had it off keeps it off).

Everything allocated during the pause would sit in the youngest generation, and the first allocation after
re-enabling would scan it all (0.4-0.6 s after a 100k-asset plan): `gc.freeze()` then `gc.unfreeze()` moves
every tracked object to the oldest generation instead, without a scan, as a survivor of collections would
be. Cyclic garbage made during the pause is then found by the next full collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()  # into the permanent generation, then back into the oldest: no scan
            gc.unfreeze()
            gc.enable()
