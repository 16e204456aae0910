"""The pure parts of bench/wave_speed.py (with bench/wave_events.py, bench/wave_results.py) and
bench/wave_overhead.py: job events -> per-host phase spans, waits, task counts, the result table, ratios
and targets, host choice. No lab, no clock."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import wave_events as we  # noqa: E402
import wave_overhead as wo  # noqa: E402
import wave_results as wr  # noqa: E402
import wave_speed as ws  # noqa: E402
from baseline import harness  # noqa: E402

T0 = 1_800_000_000.0


def at(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(T0 + seconds, UTC).isoformat()


def result(host: str, phase: str, start: float, end: float, event: str = "runner_on_ok", **data: Any) -> dict:
    return {
        "event": event,
        "created": at(end),
        "event_data": {"host": host, "playbook": f"/x/playbooks/{phase}.yml", "start": at(start),
                       "end": at(end), **data},
    }  # fmt: skip


def lockstep() -> list[dict]:
    """Two hosts, two phases run one after the other: a finishes diagnostics at 10, b at 20; the install
    playbook starts both at 22; a ends at 30, b at 35."""
    return [
        {"event": "playbook_on_task_start", "event_data": {"playbook": "/x/playbooks/diagnostics.yml"}},
        result("a", "diagnostics", 0, 4),
        result("a", "diagnostics", 5, 10, event="runner_on_skipped"),
        {"event": "runner_item_on_ok", "event_data": {"host": "a", "playbook": "/x/diagnostics.yml"}},
        result("b", "diagnostics", 0, 8),
        result("b", "diagnostics", 9, 20),
        result("a", "install", 22, 30),
        result("b", "install", 22, 35, event="runner_on_failed"),
    ]


def test_task_results_keep_one_result_per_host_and_task() -> None:
    found = we.task_results(lockstep())
    assert len(found) == 6  # the task start and the item event are not task results
    assert {(r.host, r.phase) for r in found} == {("a", "diagnostics"), ("b", "diagnostics"),
                                                  ("a", "install"), ("b", "install")}  # fmt: skip
    assert found[0].start == pytest.approx(T0) and found[0].end == pytest.approx(T0 + 4)


def test_event_phase_from_playbook_else_role_path() -> None:
    assert we.event_phase({"playbook": "/p/backup.yml"}) == "backup"
    assert (
        we.event_phase({"playbook": "/p/wave.yml", "task_path": "/r/ot_patch/tasks/main.yml:3"}) == "install"
    )
    assert we.event_phase({"playbook": "/p/wave.yml", "task_path": "/r/other/tasks/main.yml:3"}) is None


def test_lockstep_waits_and_tasks() -> None:
    spans = we.phase_spans(we.task_results(lockstep()))
    assert spans["a"]["diagnostics"] == we.Span(T0, T0 + 10, 2)
    waits = we.phase_waits(spans)
    assert waits["diagnostics"] == pytest.approx([12.0, 2.0])  # a waited for b, b for the next playbook
    assert waits["install"] == pytest.approx([5.0, 0.0])  # the last phase: until the wave's last task end
    assert we.tasks_per_host(spans) == {"diagnostics": 2.0, "install": 1.0}


def test_flowing_hosts_do_not_wait() -> None:
    events = [result("a", "diagnostics", 0, 4), result("a", "install", 4, 9),
              result("b", "diagnostics", 0, 8), result("b", "install", 8, 9)]  # fmt: skip
    waits = we.phase_waits(we.phase_spans(we.task_results(events)))
    assert waits == {"diagnostics": [0.0, 0.0], "install": [0.0, 0.0]}


def sample(size: int, variant: str, wall: float, ok: bool = True, load: float = 0.5) -> wr.Sample:
    return wr.Sample(
        size=size, variant=variant, rep=0, ok=ok, wall_s=wall, cpu_s=wall / 4, load=(load, load, load),
        tasks={"diagnostics": 27.0}, waits={"diagnostics": 1.5},
    )  # fmt: skip


def test_speedup_is_the_ratio_of_medians_of_valid_samples() -> None:
    samples = [sample(4, "a", 90), sample(4, "a", 100), sample(4, "a", 300),
               sample(4, "b", 30), sample(4, "b", 20), sample(4, "b", 1, ok=False)]  # fmt: skip
    assert wr.speedup(samples, 4) == pytest.approx(100 / 25)
    assert wr.speedup(samples, 8) is None
    assert wr.speedup(samples, 4, fast="c") is None


def test_targets_met_missed_and_not_measured() -> None:
    samples = [sample(4, "a", 90), sample(4, "b", 29, load=3.0), sample(8, "a", 100), sample(8, "b", 50),
               sample(24, "b", 80)]  # fmt: skip
    lines = wr.targets(samples)
    assert lines[0].startswith("(b) >= 3x faster than (a) at 4 hosts: 3.10x: met")
    assert lines[1].endswith("2.00x: MISSED")
    assert "29.0s (load 3.0-3.0: not idle): met" in lines[2]
    assert lines[3].endswith("2.76x: MISSED")
    assert wr.targets([])[0].endswith("not measured")


def test_table_rows() -> None:
    samples = [sample(4, "a", 90), sample(4, "a", 110), sample(4, "b", 30), sample(4, "b", 9, ok=False)]
    text = wr.table(samples, {"a": "", "b": "", "c": "no opt-in"})
    lines = text.splitlines()
    assert "100.0s [90.0-110.0]" in lines[2] and "25.0s [22.5-27.5]" in lines[2]
    assert "(1 failed rep(s) left out)" in lines[3] and "30.0s" in lines[3]
    assert "not available: no opt-in" in lines[4]
    assert "(a)/(b) 3.33x" in lines[5]
    assert wr.to_json(samples, {"c": "no opt-in"}, {})["speedup_a_over_b"]["4"] == pytest.approx(100 / 30)


def test_rotation_interleaves_and_mitogen_detection() -> None:
    assert [ws.rotation(r) for r in range(3)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert ws.rotation(1, ["a", "b"]) == ["b", "a"]
    assert ws.mitogen_args("  --phase-timeout SECONDS") is None
    assert ws.mitogen_args("--transport [ssh|mitogen]") == ["--transport", "mitogen"]


def test_wave_hosts_take_clean_upgrades_only() -> None:
    def host(*packages: str, knobs: tuple[str, ...] = ()) -> dict:
        return {"ot_installed_products": [{"package": p} for p in packages], "lab_knobs": list(knobs)}

    inventory = {
        "hist": host("nwc-historian", knobs=("nearly_full_disk",)),  # diagnostics block it
        "gw": host("nwc-gateway"),  # its 1.1.0 breaks the service
        "ews": host("nwc-eng-suite", "nwc-drill-agent"),
        "hmi": host("nwc-hmi-runtime", "nwc-drill-agent", knobs=("leave_telemetry",)),
        "scada": host("nwc-scada-server"),
    }
    assert harness.wave_hosts(inventory, 2) == [("ews", "nwc-drill-agent"), ("hmi", "nwc-hmi-runtime")]
    assert len(harness.wave_hosts(inventory, 10)) == 3


def test_overhead_wave_inventory_and_gap() -> None:
    listing = {
        "_meta": {"hostvars": {"a": {"key": "{{ inventory_dir }}/k", "n": [1]}, "b": {}, "c": {}}},
        "all": {"children": ["g", "ungrouped"]},
        "g": {"hosts": ["a", "c"]},
        "h": {"hosts": ["c"]},
    }
    inv = wo.wave_inventory(listing, ["a", "b"], "/inv")
    assert inv == {"all": {"hosts": {"a": {"key": "/inv/k", "n": [1]}, "b": {}},
                           "children": {"g": {"hosts": {"a": None}}}}}  # fmt: skip
    results = we.task_results([result("a", "verify", 0, 10), result("b", "verify", 0, 12),
                               result("c", "diagnostics", 12.5, 14)])  # fmt: skip
    assert wo.inter_wave_gap(results, ["a", "b"], ["c"]) == pytest.approx(0.5)
    assert wo.inter_wave_gap(results, ["a"], ["z"]) is None
    assert wo.median_range([1.0, 3.0, 2.0]) == "2.000 [1.000-3.000]"


def test_the_engine_runs_with_the_baselines_forks(tmp_path: Path) -> None:
    from types import SimpleNamespace

    assert harness.baseline_forks() == 20  # bench/baseline/ansible.cfg, the AWX job template's
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\nforks = 7\n")
    assert harness.baseline_forks(cfg) == 7
    lab = SimpleNamespace(inventory=tmp_path / "inv", catalog=tmp_path / "c.yml",
                          cfg=SimpleNamespace(repo_dir=tmp_path / "repo"))  # fmt: skip
    cmd = harness.otorch_run_cmd(lab, tmp_path / "w.json", tmp_path / "state", ["--transport", "mitogen"])
    assert cmd[cmd.index("--forks") + 1] == "20" and cmd[-2:] == ["--transport", "mitogen"]


def test_podman_stats_parsed_into_cpu_seconds_and_memory() -> None:
    assert harness.duration_s("1.1489954s") == pytest.approx(1.1489954)
    assert harness.duration_s("725.511843ms") == pytest.approx(0.725511843)
    assert harness.duration_s("1m2.5s") == pytest.approx(62.5)
    assert harness.duration_s("1h0m3µs") == pytest.approx(3600.000003)
    assert harness.size_mb("15.7MB / 25.28GB") == pytest.approx(15.7)
    assert harness.size_mb("512kB / 25.28GB") == pytest.approx(0.512)
    assert harness.size_mb("1.5GiB / 25.28GB") == pytest.approx(1610.612736)
    rows = [{"name": "lab-a", "cpu_time": "2s", "mem_usage": "20MB / 1GB"},
            {"name": "lab-b", "cpu_time": "500ms", "mem_usage": "30MB / 1GB"}]  # fmt: skip
    first = harness.host_usage(rows)
    assert first["lab-b"] == harness.HostUsage(cpu_s=0.5, mem_mb=30.0)
    then = {"lab-a": harness.HostUsage(3.0, 22.0), "lab-b": harness.HostUsage(0.6, 30.0),
            "lab-new": harness.HostUsage(4.0, 25.0)}  # fmt: skip
    # a wave's lab CPU: deltas; a host recreated in between counts from zero
    assert harness.lab_cpu(first, then) == pytest.approx(1.0 + 0.1 + 4.0)
    text = harness.lab_cost_text(first, then, 10.0)
    assert text.startswith("lab hosts: 2, memory per host 26.0 MB median, 30.0 MB max (52 MB in all)")
    assert "CPU per host 5.50% median, 10.00% max of one core" in text
    assert harness.lab_cost_text({}, then, 10.0) == "lab hosts: no podman stats"


def test_table_shows_the_lab_hosts_cpu() -> None:
    samples = [sample(4, "b", 30), sample(4, "b", 40)]
    samples[0].lab_cpu_s, samples[1].lab_cpu_s = 12.0, 14.0
    lines = wr.table(samples, {"a": "", "b": "", "c": "no opt-in"}).splitlines()
    assert "lab CPU s" in lines[0] and "13.0 [12.0-14.0]" in lines[3]
    summary = wr.to_json(samples, {}, {})["summary"]
    assert next(r for r in summary if r["variant"] == "b")["lab_cpu_s"]["median"] == 13.0
