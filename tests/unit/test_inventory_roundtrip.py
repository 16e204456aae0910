"""Property: valid assets written as an Ansible YAML inventory (with group_vars) load back equal."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otorchestrator.intake.inventory import load_inventory
from otorchestrator.models.asset import (
    DAYS,
    PURDUE_LEVELS,
    Asset,
    Criticality,
    InstalledProduct,
    OneOffWindow,
    OperatingSystem,
    RecurringWindow,
    Role,
)

names = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
texts = st.from_regex(r"[A-Za-z][A-Za-z0-9 ._-]{0,15}[A-Za-z0-9]", fullmatch=True)
versions = st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2}){0,3}", fullmatch=True)
recurring = st.builds(
    RecurringWindow,
    days=st.sets(st.sampled_from(DAYS), min_size=1).map(lambda d: tuple(x for x in DAYS if x in d)),
    start=st.builds(time, st.integers(0, 23), st.integers(0, 59)),
    duration_minutes=st.integers(1, 7 * 24 * 60),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/Chicago"]),
)
one_off = st.builds(
    lambda start, hours: OneOffWindow(start=start, end=start + timedelta(hours=hours)),
    st.datetimes(datetime(2026, 1, 1), datetime(2028, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(1, 48),
)
products = st.builds(
    InstalledProduct,
    vendor=texts,
    product=texts,
    version=versions,
    package=st.none() | names,
    kind=st.sampled_from(["software", "firmware"]),
)


systems = st.builds(OperatingSystem, family=st.sampled_from(["debian", "ubuntu"]), version=texts)


@st.composite
def asset_sets(draw: st.DrawFn) -> list[Asset]:
    hostnames = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    assets = []
    for index, name in enumerate(hostnames):
        assets.append(
            Asset(
                name=name,
                site=draw(texts),
                zone=draw(texts),
                purdue_level=draw(st.sampled_from(PURDUE_LEVELS)),
                role=draw(st.sampled_from(list(Role))),
                criticality=draw(st.sampled_from(list(Criticality))),
                safety_system=draw(st.booleans()),
                redundancy_group=draw(st.none() | names),
                maintenance_windows=tuple(draw(st.lists(recurring | one_off, min_size=1, max_size=3))),
                installed_products=tuple(draw(st.lists(products, max_size=3))),
                os=draw(systems),
                connection="ssh",  # a WinRM host is refused (test_host_asset)
                depends_on=tuple(hostnames[:index][:1]),  # earlier hosts only: no cycles
                groups=("site",),
            )
        )
    return assets


def host_vars(asset: Asset) -> dict[str, Any]:
    data = asset.model_dump(mode="json")
    out = {f"ot_{k}": v for k, v in data.items() if k not in ("name", "groups", "connection", "site")}
    out["ansible_connection"] = data["connection"]
    for window in out["ot_maintenance_windows"]:
        if "days" in window:
            window["start"] = window["start"][:5]  # "HH:MM"
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(asset_sets())
def test_assets_written_as_inventory_load_back_equal(assets: list[Asset]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "group_vars").mkdir()
        # the site comes from the group's group_vars file when all hosts share it, else from the host
        shared_site = assets[0].site if len({a.site for a in assets}) == 1 else None
        if shared_site is not None:
            (root / "group_vars" / "site.yml").write_text(yaml.safe_dump({"ot_site": shared_site}))
        hosts = {}
        for asset in assets:
            variables = host_vars(asset)
            if shared_site is None:
                variables["ot_site"] = asset.site
            hosts[asset.name] = variables
        (root / "hosts.yml").write_text(yaml.safe_dump({"site": {"hosts": hosts}}, sort_keys=False))
        loaded = load_inventory(root)
    assert {a.name: a for a in loaded.assets} == {a.name: a for a in assets}
