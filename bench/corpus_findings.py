"""Findings of `otorch plan` over the real CISA corpus, and what changed between two plans.

    python bench/corpus_findings.py inventory OUT_DIR [--csaf ../shared/data/csaf]
    otorch plan -i OUT_DIR/hosts.yml --advisories ../shared/data/csaf --catalog OUT_DIR/catalog.yml \
        --now 2026-03-10T08:00:00+00:00 -o after.json
    python bench/corpus_findings.py compare before.json after.json

`inventory` writes one host per advisory whose installed products are that advisory's own product-tree
entries (vendor and product name as the tree writes them, variant included), each at every version its rule's
text writes (`<V2.0` -> `V2.0`; `6.x` -> `6.0` and `6.1`; all versions -> `1.0`), read from the raw text by
a regex, not by the matcher under test. The catalog is empty, so every hit is an unpatched finding.

`compare` counts findings, one per (asset, installed product, CVE), in each plan and sorts every finding
that one plan has and the other has not by its cause: the installed product names an order-number variant
(a parenthesised suffix: hits through sibling variants' rules), the rule text has an `x` wildcard, or other.
It also prints the review candidates and the fixed-version contradictions of the second plan, when it has
them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_CSAF = HERE.parents[1] / "shared" / "data" / "csaf"
_CHUNK = re.compile(r"(?:vers:[a-z]+/)|<=|>=|=<|=>|!=|<|>|=|\||\bto\b|,")
_WILDCARD = re.compile(r"^(.*?\d)\.?[xX*](?:\.[xX*])*$")


def probes(text: str | None) -> list[str]:
    """The versions a rule's raw text writes, as an inventory would write them."""
    out: list[str] = []
    for chunk in _CHUNK.split(text or ""):
        chunk = re.sub(r"\([^()]*\)", " ", chunk).strip()
        if not chunk or not re.search(r"\d", chunk) or len(chunk) > 40:
            continue
        wild = _WILDCARD.match(chunk)
        if wild:
            out += [f"{wild.group(1)}.0", f"{wild.group(1)}.1"]
        else:
            out.append(chunk)
    return list(dict.fromkeys(out)) or ["1.0"]


def inventory(csaf: Path, out: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from otorchestrator.intake.csaf import load_advisories

    advisories, _ = load_advisories([csaf])
    hosts: dict[str, Any] = {}
    for advisory in sorted(advisories, key=lambda a: a.id):
        products = {}
        for rule in advisory.products:
            if rule.vendor is None:
                continue
            for version in probes(rule.version):
                key = (rule.vendor, rule.product, version)
                products[key] = {"vendor": rule.vendor, "product": rule.product, "version": version}
        if not products:
            continue
        hosts[advisory.id.lower()] = {
            "ot_site": "corpus",
            "ot_zone": "cell",
            "ot_purdue_level": 2,
            "ot_role": "hmi",
            "ot_criticality": "medium",
            "ot_safety_system": False,
            "ot_maintenance_windows": [
                {"days": ["sat"], "start": "22:00", "duration_minutes": 240, "timezone": "UTC"}
            ],
            "ot_os": {"family": "windows", "version": "10"},
            "ot_installed_products": list(products.values()),
        }
    out.mkdir(parents=True, exist_ok=True)
    (out / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=True))
    (out / "catalog.yml").write_text("patches: []\n")
    total = sum(len(h["ot_installed_products"]) for h in hosts.values())
    print(f"{out / 'hosts.yml'}: {len(hosts)} hosts, {total} installed products")


Finding = tuple[str, str, str, str, str]  # asset, vendor, product, version, cve


def findings(plan: dict[str, Any]) -> set[Finding]:
    out = set()
    for u in plan["unpatched"]:
        for cve in u["cves"]:
            out.add((u["asset"], u["vendor"], u["product"], u["version"], cve))
    for item in plan["items"]:
        vendor, _, product = item["product"].partition(" / ")
        for cve in item["cves"]:
            out.add((item["asset"], vendor, product, item["installed_version"], cve))
    return out


def cause(finding: Finding) -> str:
    _, _, product, version, _ = finding
    if re.search(r"\([^()]*\)", product):
        return "order-number / variant product (sibling variants' rules)"
    if re.search(r"\d\.?[xX*]\b|\d\.[xX*]", version) or version.endswith((".0", ".1")):
        return "wildcard probe (N.x)"
    return "other"


def compare(before_path: Path, after_path: Path) -> None:
    before = json.loads(before_path.read_text())
    after = json.loads(after_path.read_text())
    a, b = findings(before), findings(after)
    print(f"findings (asset x product x CVE): before {len(a)}, after {len(b)}, change {len(b) - len(a):+d}")
    print(
        f"unpatched rows: before {len(before['unpatched'])}, after {len(after['unpatched'])}; "
        f"products named by no advisory: before {len(before['unmatched_products'])}, "
        f"after {len(after['unmatched_products'])}"
    )
    for label, diff in (("removed", a - b), ("added", b - a)):
        by_cause = Counter(cause(f) for f in diff)
        print(f"{label}: {len(diff)}")
        for why, n in by_cause.most_common():
            print(f"  {n:6d}  {why}")
        for f in sorted(diff)[:5]:
            print(f"          e.g. {f}")
    review = after.get("review", [])
    if review:
        print(f"review candidates (after): {len(review)}")
        for r in review[:5]:
            print(f"          e.g. {r.get('reason', '')[:160]}")
    problems = [p for p in after.get("fix_contradictions", []) if p.get("inventory_match")]
    if problems:
        print(f"fixed-version contradictions flagged (after): {len(problems)}")
        for p in problems[:5]:
            print(f"          e.g. {p.get('advisory')} {p.get('product_id')}: {p.get('reason', '')[:140]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    inv = sub.add_parser("inventory", help="write the corpus inventory and an empty catalog")
    inv.add_argument("out", type=Path)
    inv.add_argument("--csaf", type=Path, default=DEFAULT_CSAF)
    cmp = sub.add_parser("compare", help="count and explain the findings of two plans")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "inventory":
        inventory(args.csaf, args.out)
    else:
        compare(args.before, args.after)


if __name__ == "__main__":
    main()
