"""One clock and one parser of moments for every command: `now()` reads `CLOCK` (a test swaps it for a
`FakeClock`), `parse_moment` reads an ISO-8601 `--now` / `--since`."""

from __future__ import annotations

from datetime import UTC, datetime

from otorchestrator.store.clock import Clock, SystemClock

CLOCK: Clock = SystemClock()


def now() -> datetime:
    """The current moment (UTC, with microseconds: run timing)."""
    return CLOCK.now()


def now_seconds() -> datetime:
    """The current moment to the second: what a command records when no `--now` pins it."""
    return CLOCK.now().replace(microsecond=0)


class MomentError(ValueError):
    pass


OFFSET_EXAMPLE = "2026-11-22T02:00:00+00:00"


def parse_moment(text: str, *, naive_is_utc: bool = False) -> datetime:
    """An ISO-8601 datetime (or date). It needs a UTC offset unless `naive_is_utc` (then a naive value,
    e.g. a bare date, is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MomentError(f"expected an ISO-8601 datetime, got {text!r}") from exc
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise MomentError(f"needs a UTC offset, e.g. {OFFSET_EXAMPLE}")
        moment = moment.replace(tzinfo=UTC)
    return moment
