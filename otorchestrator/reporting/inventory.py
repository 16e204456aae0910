"""Pure, printable summaries of assets (used by `otorch inventory show`)."""

from __future__ import annotations

from otorchestrator.models.asset import DAYS, AnyTimeWindow, Asset, MaintenanceWindow, OneOffWindow

ASSET_COLUMNS: tuple[str, ...] = (
    "host",
    "site",
    "zone",
    "purdue",
    "role",
    "criticality",
    "safety",
    "redundancy",
    "windows",
    "products",
)


def days_summary(days: tuple[str, ...]) -> str:
    """`("mon", "tue", "wed", "sat")` -> `mon-wed,sat`; every day -> `daily`."""
    indexes = sorted({DAYS.index(d) for d in days})
    if len(indexes) == len(DAYS):
        return "daily"
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = [DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in runs]
    return ",".join(parts)


def duration_summary(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h" if not rest else f"{hours}h{rest:02d}"


def window_summary(window: MaintenanceWindow) -> str:
    """`sat 22:00 +6h Europe/Berlin` or `2026-12-05T06:00+01:00 -> 2026-12-05T14:00+01:00`."""
    if isinstance(window, AnyTimeWindow):
        return f"any time ({window.timezone})"
    if isinstance(window, OneOffWindow):
        start = window.start.isoformat(timespec="minutes")
        end = window.end.isoformat(timespec="minutes")
        return f"{start} -> {end}"
    return (
        f"{days_summary(window.days)} {window.start.strftime('%H:%M')} "
        f"+{duration_summary(window.duration_minutes)} {window.timezone}"
    )


def purdue_text(level: float) -> str:
    return f"{level:g}"


def asset_row(asset: Asset) -> dict[str, str]:
    """One asset as the cells of the `inventory show` table."""
    products = [
        f"{p.product} {p.version}" + (" (firmware)" if p.kind == "firmware" else "")
        for p in asset.installed_products
    ]
    return {
        "host": asset.name,
        "site": asset.site,
        "zone": asset.zone,
        "purdue": purdue_text(asset.purdue_level),
        "role": asset.role.value,
        "criticality": asset.criticality.value,
        "safety": "SIS" if asset.safety_system else "",
        "redundancy": asset.redundancy_group or "",
        "windows": "; ".join(window_summary(w) for w in asset.maintenance_windows) or "none",
        "products": "; ".join(products),
    }
