"""`otorch audit verify`'s task-event digests: each record's digest from scratch over its host's prefix
(before f92198b, O(records x events)) against one running hash per host (store/audit_records.py
TaskEventsDigests), on the same rows, interleaved A/B, CPU seconds, medians of the repetitions.

    python bench/verify_digests.py [--hosts 50] [--events 40] [--records 8 40] [--repeat 7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from otorchestrator.models.canonical import JCS_PREFIX, jcs
from otorchestrator.models.results import Phase
from otorchestrator.store.audit_records import TaskEventsDigests
from otorchestrator.store.run_records import TaskEventRecord

T0 = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
PHASES = (Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL, Phase.VERIFY)
Host = tuple[list[TaskEventRecord], list[int]]  # a host's events, the counts its records carry


def from_scratch(rows: Sequence[TaskEventRecord]) -> dict[str, Any]:
    """task_events_digest as it was before f92198b: the JCS text of the whole prefix, hashed."""
    body = [[r.phase.value, r.task, r.status, r.changed, r.at.astimezone(UTC).isoformat()] for r in rows]
    return {"count": len(body), "digest": JCS_PREFIX + hashlib.sha256(jcs(body).encode()).hexdigest()}


def old(hosts: Sequence[Host]) -> list[dict[str, Any]]:
    return [from_scratch(rows[:count]) for rows, counts in hosts for count in counts]


def new(hosts: Sequence[Host]) -> list[dict[str, Any]]:
    out = []
    for rows, counts in hosts:
        digests = TaskEventsDigests(rows)
        out += [digests.upto(count) for count in counts]
    return out


def event(n: int) -> TaskEventRecord:
    return TaskEventRecord(
        run_id="run-1",
        wave=0,
        host="h",
        phase=PHASES[n % 4],
        task=f"ot_role : task {n}",
        status="ok",
        changed=bool(n % 2),
        at=T0 + timedelta(seconds=n),
    )


def site(n_hosts: int, n_events: int, n_records: int) -> list[Host]:
    step = n_events // n_records
    rows = [event(n) for n in range(n_events)]
    return [(list(rows), [k * step for k in range(1, n_records + 1)]) for _ in range(n_hosts)]


def cpu(fn: Callable[[list[Host]], list[dict[str, Any]]], hosts: list[Host]) -> float:
    start = time.process_time()
    fn(hosts)
    return time.process_time() - start


def spread(values: Sequence[float]) -> str:
    return f"[{min(values) * 1000:.1f}-{max(values) * 1000:.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--records", type=int, nargs="+", default=[8, 40])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for n_records in args.records:
        hosts = site(args.hosts, args.events, n_records)
        assert old(hosts) == new(hosts)  # the same digests
        samples: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(args.repeat):  # interleaved, the order alternating
            for name in ("old", "new") if i % 2 == 0 else ("new", "old"):
                samples[name].append(cpu(old if name == "old" else new, hosts))
        a, b = statistics.median(samples["old"]), statistics.median(samples["new"])
        print(
            f"{args.hosts} hosts x {args.events} events, {n_records} records/host: from scratch "
            f"{a * 1000:.1f} ms {spread(samples['old'])}, one pass {b * 1000:.1f} ms "
            f"{spread(samples['new'])}, ratio {b / a:.3f} (CPU, medians of {args.repeat})"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
