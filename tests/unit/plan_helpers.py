"""Assets, catalogs and advisories built directly for planning tests (no inventory reader needed)."""

from __future__ import annotations

from pathlib import Path

from otorchestrator.intake.catalog import load_catalog
from otorchestrator.intake.csaf import load_advisories
from otorchestrator.intake.exemptions import load_exemptions
from otorchestrator.intake.kev import load_kev
from otorchestrator.models.asset import Asset, Criticality, InstalledProduct, Inventory, Role
from otorchestrator.planning.plan import PlanInputs

ROOT = Path(__file__).parents[2]
LAB = ROOT / "inventories" / "lab"


def asset(
    name: str,
    *products: tuple[str, str, str],
    level: float = 2,
    zone: str = "cell",
    criticality: Criticality = Criticality.MEDIUM,
    safety: bool = False,
    groups: tuple[str, ...] = (),
) -> Asset:
    return Asset(
        name=name,
        site="s",
        zone=zone,
        purdue_level=level,
        role=Role.HMI,
        criticality=criticality,
        safety_system=safety,
        installed_products=tuple(
            InstalledProduct(vendor=v, product=p, version=ver) for v, p, ver in products
        ),
        groups=groups,
    )


NWC = "Northwind Controls"


def lab_assets() -> tuple[Asset, ...]:
    """The lab hosts as in inventories/lab/hosts.yml (built directly)."""
    return (
        asset(
            "nw-scada-a", (NWC, "NWC SCADA Server", "1.0.0"), zone="supervisory", criticality=Criticality.HIGH
        ),
        asset(
            "nw-scada-b", (NWC, "NWC SCADA Server", "1.0.0"), zone="supervisory", criticality=Criticality.HIGH
        ),
        asset("nw-hist-01", (NWC, "NWC Historian", "1.0.0"), level=3, zone="site-operations"),
        asset("nw-hmi-01", (NWC, "NWC HMI Runtime", "1.0.0"), zone="cell-a-control"),
        asset(
            "nw-hmi-02",
            (NWC, "NWC HMI Runtime", "1.0.0"),
            (NWC, "NWC Drill Agent", "1.0.0"),
            zone="cell-a-control",
            criticality=Criticality.LOW,
        ),
        asset(
            "nw-ews-01",
            (NWC, "NWC Engineering Suite", "1.0.0"),
            (NWC, "NWC Drill Agent", "1.0.0"),
            level=3,
            zone="engineering",
        ),
        asset("nw-gw-01", (NWC, "NWC Protocol Gateway", "1.0.0"), level=3.5, zone="idmz"),
        asset(
            "nw-sis-01",
            (NWC, "NWC HMI Runtime", "1.0.0"),
            level=1,
            zone="sis",
            criticality=Criticality.CRITICAL,
            safety=True,
        ),
    )


def lab_inputs(assets: tuple[Asset, ...] | None = None, **changes: object) -> PlanInputs:
    advisories, problems = load_advisories([LAB / "advisories"])
    catalog, _ = load_catalog(LAB / "catalog.yml")
    kev, _ = load_kev(LAB / "kev.json")
    exemptions, _ = load_exemptions(LAB / "exemptions.yml")
    fields: dict[str, object] = {
        "inventory": Inventory(source="test", assets=assets if assets is not None else lab_assets()),
        "advisories": advisories,
        "catalog": catalog,
        "kev": kev,
        "exemptions": exemptions,
        "import_problems": problems,
    }
    fields.update(changes)
    return PlanInputs(**fields)  # type: ignore[arg-type]
