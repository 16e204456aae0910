"""Draw a `WindowTimeline` as one self-contained inline SVG (no script, no external resource).

One row per asset: its maintenance-window occurrences as pale blue rectangles labelled in their local
time and zone, the planned slot as a dashed outline followed by the hatched rollback reserve and a tick at
the latest start, and the phases it ran as solid bars in the colour of the host's outcome (a failed phase
red). Held, exempt and blocked assets get a pill in their colour with the reason. A band above the rows
shows each wave's planned slot and, under it, when the wave actually ran. The time axis is UTC.

Every drawn element carries a class and data attributes (`tl-row` with `data-asset`/`data-outcome`,
`tl-window`, `tl-slot`, `tl-phase` with `data-phase`/`data-ok`, ...) so a test can find it in the DOM.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from html import escape

from otorchestrator.reporting.timeline import PLANNED, TimelineRow, WindowTimeline

# The colours of what is no host state of a run; the run's own states come from the run report's palette
# (`render.OUTCOME_COLOURS`, passed in), so a host has one colour on the whole page.
PLACEMENT_COLOURS: dict[str, str] = {
    "held": "#7c5cff",
    "exempt": "#0e9aa7",
    "blocked": "#a3458f",  # refused by the plan (or by diagnostics in a run), never changed: not a failure
    "excluded": "#9aa5b4",
    PLANNED: "#5b6475",
}
OTHER_COLOUR = "#9aa5b4"  # anything else
FAILED_PHASE = "#e5484d"
WINDOW_FILL, WINDOW_LINE, WINDOW_TEXT = "#dbe7fb", "#7aa2e3", "#2f4f86"
SLOT_LINE = "#4a5263"

WIDTH, PLOT_X0, PLOT_X1 = 1120, 250, 1104
AXIS_H, BAND_H, ROW_H = 34, 30, 46
_STEPS = tuple(timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080))


class Palette:
    """Outcome -> colour: the run report's host-state colours over the placement colours."""

    def __init__(self, state_colours: Mapping[str, str] | None = None) -> None:
        self.colours = {**PLACEMENT_COLOURS, **(state_colours or {})}

    def __call__(self, outcome: str) -> str:
        return self.colours.get(outcome, OTHER_COLOUR)


class _Axis:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        share = (moment - self.start).total_seconds() / self.seconds
        return round(PLOT_X0 + min(max(share, 0.0), 1.0) * (PLOT_X1 - PLOT_X0), 1)

    def span(self, start: datetime, end: datetime, least: float) -> tuple[float, float]:
        """Left edge and width of [start, end) clipped to the axis, at least `least` pixels wide."""
        left, right = self.x(start), self.x(end)
        width = max(right - left, least)
        return min(left, PLOT_X1 - width), round(width, 1)

    def ticks(self) -> Iterator[tuple[datetime, str, str]]:
        """(moment, date label or "", time label): at most ~9 ticks on round UTC moments."""
        step = next((s for s in _STEPS if self.seconds / s.total_seconds() <= 9), _STEPS[-1])
        seconds = int(step.total_seconds())
        epoch = int(self.start.timestamp())
        moment = datetime.fromtimestamp(epoch - epoch % seconds + seconds, self.start.tzinfo)
        last_day = None
        while moment < self.end:
            day = moment.strftime("%a %d %b")
            yield moment, (day if day != last_day else ""), moment.strftime("%H:%M")
            last_day, moment = day, moment + step


def _attrs(**values: object) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in values.items())


def _rect(x: float, y: float, w: float, h: float, title: str = "", **extra: object) -> str:
    body = f"<title>{escape(title)}</title>" if title else ""
    return f"<rect {_attrs(x=x, y=y, width=w, height=h, **extra)}>{body}</rect>"


def _path(d: str, title: str = "", **extra: object) -> str:
    body = f"<title>{escape(title)}</title>" if title else ""
    return f"<path {_attrs(d=d, **extra)}>{body}</path>"


def _text(x: float, y: float, text: str, **extra: object) -> str:
    return f"<text {_attrs(x=x, y=y, **extra)}>{escape(text)}</text>"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _label_column(row: TimelineRow, y: float, colour: str) -> list[str]:
    state = f"{row.outcome} · {row.zone}" if row.zone else row.outcome
    return [
        _text(10, y + 19, row.asset, font_size=13, font_weight="bold", class_="tl-name"),
        f'<circle cx="14" cy="{y + 33}" r="4" fill="{colour}"/>',
        _text(22, y + 37, _short(state, 36), font_size=11, fill="#4a5263", class_="tl-state"),
    ]


def _windows(row: TimelineRow, y: float, axis: _Axis) -> list[str]:
    """The window occurrences; each label runs on past a narrow rectangle up to the next occurrence."""
    out: list[str] = []
    spans = [(w, *axis.span(w.start, w.end, 2)) for w in row.windows]
    for n, (window, x, w) in enumerate(spans):
        title = f"maintenance window {window.label} ({_hm(window.start)} - {_hm(window.end)})"
        box = _rect(
            x, y + 3, w, ROW_H - 6, title, class_="tl-window", fill=WINDOW_FILL, stroke=WINDOW_LINE, rx=3
        )
        out.append(box)
        room = (spans[n + 1][1] if n + 1 < len(spans) else PLOT_X1) - x - 8
        if room > 60:
            out.append(
                _text(
                    x + 5,
                    y + ROW_H - 7,
                    _short(window.label, int(room / 5.8)),
                    font_size=10,
                    fill=WINDOW_TEXT,
                )
            )
    if not row.windows_known:
        out.append(
            _text(PLOT_X0 + 6, y + ROW_H - 7, "windows unknown (plan not read)", font_size=10, fill="#5f6b7a")
        )
    elif not row.windows:
        nxt = row.next_window
        text = (
            f"next window {nxt.label} ({_hm(nxt.start)})"
            if nxt
            else "no maintenance window in the next 14 days"
        )
        out.append(_text(PLOT_X0 + 6, y + ROW_H - 7, text, font_size=10, fill="#5f6b7a", class_="tl-next"))
    return out


def _slot(row: TimelineRow, y: float, axis: _Axis) -> list[str]:
    if row.slot_start is None or row.slot_end is None:
        return []
    x, w = axis.span(row.slot_start, row.slot_end, 3)
    title = f"planned slot ({row.wave}): {_hm(row.slot_start)} - {_hm(row.slot_end)}"
    dashed = {"stroke": SLOT_LINE, "stroke_dasharray": "4 2"}
    out = [_rect(x, y + 6, w, 12, title, class_="tl-slot", fill="#ffffff", fill_opacity=0.6, **dashed)]
    if row.reserve_end is not None and row.reserve_end > row.slot_end:
        rx, rw = axis.span(row.slot_end, row.reserve_end, 2)
        title = f"rollback reserve until {_hm(row.reserve_end)}"
        out += _hatched(rx, y + 6, rw, 12, title)
    if row.latest_start is not None and axis.start <= row.latest_start <= axis.end:
        lx, title = axis.x(row.latest_start), f"latest start {_hm(row.latest_start)}"
        out.append(_path(f"M{lx} {y + 3} v18", title, class_="tl-latest", stroke=SLOT_LINE, stroke_width=2))
    end = axis.x(row.reserve_end or row.slot_end)
    if row.wave and end + 8 + 6 * len(row.wave) < PLOT_X1:
        out.append(_text(end + 6, y + 16, row.wave, font_size=10, fill=SLOT_LINE, class_="tl-wave-name"))
    return out


def _phases(row: TimelineRow, y: float, axis: _Axis, colour: str) -> list[str]:
    out = []
    for phase in row.phases:
        x, w = axis.span(phase.start, phase.end, 2)
        seconds = (phase.end - phase.start).total_seconds()
        title = f"{phase.phase}: {_hm(phase.start)}, {seconds:.1f} s ({'ok' if phase.ok else 'failed'})"
        fill = colour if phase.ok else FAILED_PHASE
        data = {"data_phase": phase.phase, "data_ok": str(phase.ok).lower()}
        out.append(_rect(x, y + 21, w, 16, title, class_="tl-phase", fill=fill, **data))
    return out


def _pill(row: TimelineRow, y: float, colour: str) -> list[str]:
    """Held / exempt / blocked / excluded: a pill in the outcome's colour and the reason beside it."""
    label = row.outcome.upper()
    width = 12 + 8.4 * len(label)
    return [
        _rect(PLOT_X0 + 6, y + 7, width, 18, row.reason, class_="tl-pill", fill=colour, rx=9),
        _text(PLOT_X0 + 12, y + 20, label, font_size=11, font_weight="bold", fill="#ffffff"),
        _text(
            PLOT_X0 + 14 + width,
            y + 20,
            _short(row.reason, 125),
            font_size=11,
            fill="#1d2330",
            class_="tl-reason",
        ),
    ]


def _row(row: TimelineRow, y: float, axis: _Axis, stripe: bool, palette: Palette) -> list[str]:
    colour = palette(row.outcome)
    out = [f"<g {_attrs(class_='tl-row', data_asset=row.asset, data_outcome=row.outcome)}>"]
    if stripe:
        out.append(_rect(0, y, WIDTH, ROW_H, fill="#f7f9fc"))
    out += _label_column(row, y, colour) + _windows(row, y, axis) + _slot(row, y, axis)
    out += _phases(row, y, axis, colour) if row.placed else _pill(row, y, colour)
    out.append("</g>")
    return out


def _band(timeline: WindowTimeline, axis: _Axis, y: float) -> list[str]:
    out = [_text(10, y + 13, "waves: planned slot", font_size=11, fill="#4a5263")]
    if any(w.actual_start for w in timeline.waves):
        out.append(_text(10, y + 26, "when it ran", font_size=11, fill="#4a5263"))
    for wave in timeline.waves:
        out.append(f"<g {_attrs(class_='tl-wave', data_wave=wave.name)}>")
        x, w = axis.span(wave.start, wave.end, 3)
        out.append(
            _rect(
                x,
                y + 2,
                w,
                14,
                f"{wave.name} planned {_hm(wave.start)} - {_hm(wave.end)}",
                class_="tl-wave-plan",
                fill="#d7dce5",
                stroke=SLOT_LINE,
                stroke_width=0.5,
            )
        )
        if w > 8 * len(wave.name):
            out.append(_text(x + 3, y + 13, wave.name, font_size=10, fill="#1d2330"))
        if wave.actual_start is not None and wave.actual_end is not None:
            ax, aw = axis.span(wave.actual_start, wave.actual_end, 3)
            title = f"{wave.name} ran {_hm(wave.actual_start)} - {_hm(wave.actual_end)}"
            out.append(_rect(ax, y + 19, aw, 7, title, class_="tl-wave-actual", fill="#1d2330"))
        out.append("</g>")
    return out


def _hatched(x: float, y: float, w: float, h: float, title: str = "") -> list[str]:
    """A white box crossed by diagonal lines every 5 px, drawn as one path clipped to the box by hand
    (no <pattern>: a url() reference is one thing fewer a report may contain)."""
    strokes = []
    for step in range(-int(h), int(w) + 1, 5):
        t0, t1 = max(0.0, -step / h), min(1.0, (w - step) / h)
        if t0 < t1:
            x0, y0 = x + step + t0 * h, y + h - t0 * h
            x1, y1 = x + step + t1 * h, y + h - t1 * h
            strokes.append(f"M{x0:.1f} {y0:.1f}L{x1:.1f} {y1:.1f}")
    return [
        _rect(x, y, w, h, title, class_="tl-reserve", fill="#ffffff", stroke=SLOT_LINE, stroke_width=0.5),
        _path("".join(strokes), stroke=SLOT_LINE, stroke_width=1.2),
    ]


def _legend(timeline: WindowTimeline, y: float, palette: Palette) -> list[str]:
    items = [("window", WINDOW_FILL), ("planned slot", "slot"), ("rollback reserve", "hatch")]
    outcomes = dict.fromkeys(r.outcome for r in timeline.rows)
    items += [(o, palette(o)) for o in outcomes]
    if any(not p.ok for r in timeline.rows for p in r.phases):
        items.append(("failed phase", FAILED_PHASE))
    out, x = ['<g class="tl-legend">'], 10.0
    for label, fill in items:
        if fill == "slot":
            out.append(_rect(x, y, 14, 10, fill="#ffffff", stroke=SLOT_LINE, stroke_dasharray="4 2"))
        elif fill == "hatch":
            out += _hatched(x, y, 14, 10)
        else:
            out.append(_rect(x, y, 14, 10, fill=fill, stroke=WINDOW_LINE if fill == WINDOW_FILL else "none"))
        out.append(_text(x + 18, y + 9, label, font_size=11, fill="#1d2330"))
        x += 30 + 6.5 * len(label)
    out.append("</g>")
    return out


CAPTION = (
    "Time axis UTC, {start} to {end}; windows are labelled in the local time and zone they were written in. "
    "Dashed: the planned slot; hatched: its rollback reserve; solid: what ran.{more}"
)


def render_timeline_svg(timeline: WindowTimeline, state_colours: Mapping[str, str] | None = None) -> str:
    """The timeline as an inline `<figure>` holding one `<svg>`, with a caption saying what the axis is.
    `state_colours`: host state -> colour, the run report's (`render.OUTCOME_COLOURS`)."""
    palette = Palette(state_colours)
    axis = _Axis(timeline.start, timeline.end)
    rows_y = AXIS_H + BAND_H + 6
    height = rows_y + ROW_H * len(timeline.rows) + 30
    body: list[str] = [_text(10, 14, "UTC", font_size=11, font_weight="bold", fill="#4a5263")]
    for moment, day, hm in axis.ticks():
        x = axis.x(moment)
        body.append(_path(f"M{x} {AXIS_H - 4} V{height - 30}", stroke="#dde2ea", stroke_width=1))
        if day:
            body.append(_text(x + 2, 12, day, font_size=10, fill="#5f6b7a"))
        body.append(_text(x + 2, 26, hm, font_size=11, fill="#1d2330", class_="tl-tick"))
    body += _band(timeline, axis, AXIS_H)
    for n, row in enumerate(timeline.rows):
        body += _row(row, rows_y + n * ROW_H, axis, n % 2 == 1, palette)
    staged = timeline.staged_at
    if staged is not None and timeline.start <= staged <= timeline.end:
        x, title = axis.x(staged), f"staged {_hm(staged)}"
        line = f"M{x} {AXIS_H} V{height - 30}"
        body.append(_path(line, title, class_="tl-staged", stroke="#1d2330", stroke_dasharray="2 3"))
    body += _legend(timeline, height - 20, palette)
    label = f"Waves against each asset's maintenance windows, {_hm(timeline.start)} to {_hm(timeline.end)}"
    head = _attrs(
        id="window-timeline",
        role="img",
        viewBox=f"0 0 {WIDTH} {height}",
        width=WIDTH,
        height=height,
        style="max-width: 100%; height: auto",
        font_family="DejaVu Sans, Arial, sans-serif",
        aria_label=label,
    )
    svg = f"<svg {head}><title>{escape(label)}</title>{''.join(body)}</svg>"
    more = (
        f" {timeline.hidden_rows} more assets are not drawn (see the tables)." if timeline.hidden_rows else ""
    )
    caption = CAPTION.format(start=_hm(timeline.start), end=_hm(timeline.end), more=more)
    return (
        f'<figure class="window-timeline" style="margin: 0">{svg}'
        f'<figcaption class="muted">{escape(caption)}</figcaption></figure>'
    )
