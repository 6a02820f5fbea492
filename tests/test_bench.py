"""Benchmark plumbing: result files carry median, p95, machine and commit; --help stays lazy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qorch.cli.main import main
from qorch.stats import percentile, summary, write_result


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 95) == 3.0
    assert summary([1.0, 2.0, 3.0])["median"] == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_result_file_records_machine_and_commit(tmp_path):
    path = write_result(tmp_path / "r", "demo", {"x": summary([1.0, 2.0])})
    data = json.loads(path.read_text())
    assert data["benchmark"] == "demo" and data["x"]["p95"] == pytest.approx(1.95)
    assert data["machine"]["cpus"] >= 1 and data["commit"]


def test_cli_startup_benchmark_writes_its_file(tmp_path, capsys):
    assert main(["bench", "cli-startup", "--runs", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "cli-startup.json").read_text())
    assert data["qorch_help"]["n"] == 2 and data["python_startup"]["n"] == 2
    assert "written to" in capsys.readouterr().out


def test_help_imports_nothing_heavy():
    """What keeps `qorch --help` fast: the entry module imports only argparse."""
    code = (
        "import sys, qorch.cli.main as m; m.build_parser(); "
        "print([x for x in ('qiskit', 'dynaconf', 'loguru', 'peewee', 'rich', 'pluggy', "
        "'attrs') if x in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["tcp", "libp2p"])
def test_transport_round_trips_are_timed_for_the_channel_and_the_bare_baseline(name, tmp_path):
    import trio

    from qorch.bench.transport_bench import channel_round_trips
    from qorch.plugins import PluginSystem

    transport = PluginSystem().create("transport", name)
    times = trio.run(channel_round_trips, transport, 5, tmp_path)
    bare = trio.run(transport.baseline_round_trips, 5)
    assert len(times) == 5 == len(bare) and all(0 < t < 10 for t in times + bare)


def test_transport_results_table_names_every_figure():
    from qorch.bench.transport_bench import markdown

    ms = summary([1.0, 2.0, 3.0])
    disc = {
        "all_ready_s": 6.5, "all_seen_s": 6.6, "seen_after_ready_s": summary([0.01, 0.2]),
        "sigkill_unavailable_s": 0.01, "sigstop_unavailable_s": 2.5, "ttl_s": 10, "refresh_s": 3,
    }  # fmt: skip
    row = {"channel_ms": ms, "reserve_ms": ms, "execute_ms": ms, "discovery": disc}
    with_base = {**row, "baseline_ms": ms, "ratio_p50": 1.0, "ratio_p95": 1.0}
    data = {"round_trips": 3, "target_p95_ms": 5.0, "target_discovery_s": 3.0}
    text = markdown({**data, "transports": {"tcp": row, "libp2p": with_base}})
    assert "| tcp | 2.00 / 2.90 | - | - | 2.00 / 2.90 | 2.00 / 2.90 |" in text
    assert "| libp2p | 6.50 | 6.60 | 0.200 | 0.01 | 2.50 (10 + 3) |" in text


def test_remote_fragment_overhead_counts_from_readiness_to_its_start_on_the_nodes():
    """NFR-003, issue 17: a remote fragment's overhead runs from its last dependency's end
    (not when its task woke) to its start on its nodes, on the nodes' clocks; locals and
    fragments without dependencies are skipped."""
    from qorch.bench.overhead_bench import remote_overheads
    from qorch.plan import Fragment
    from qorch.runtime.plan_runner import FragmentRun

    def frag(fid, kind, deps):
        nodes = ("a",) if kind == "local" else ("a", "b")
        return Fragment(fid, kind, nodes, (0,), (), tuple(deps), 0, nodes, 0.0, 1.0)

    plan = type("P", (), {"fragments": (frag("f0", "local", []), frag("f1", "entangle", ["f0"]),
                                         frag("f2", "entangle", []))})  # fmt: skip

    def rec(start, end):
        return {"started_at": start, "ended_at": end}

    runs = {
        "f0": FragmentRun("f0", "local", ("a",), "ok", 1, 0.0, 1.0),
        # became ready at 1.0 (f0's end) though its task only started at 1.5
        "f1": FragmentRun(
            "f1", "entangle", ("a", "b"), "ok", 1, 1.5, 2.0, (), (rec(1.6, 1.7), rec(1.6, 1.8))
        ),
        "f2": FragmentRun("f2", "entangle", ("a", "b"), "ok", 1, 0.0, 0.5, (), (rec(0.1, 0.2),)),
    }
    assert remote_overheads(plan, runs) == pytest.approx([1.6 - 1.0])


def test_overhead_table_reports_the_ratio_and_the_targets():
    from qorch.bench.overhead_bench import markdown

    ms = summary([1.0, 2.0, 3.0])
    libp2p = {"remote_fragments": 3, "overhead_ms": ms, "bare_round_trip_ms": ms,
              "ratio_median": 1.0, "ratio_p95": 1.0, "chain_overhead_ms": ms}  # fmt: skip
    data = {
        "topology": "t.toml", "operations": 50, "qubits": 20, "target_p95_ms": 10.0,
        "target_ratio": 3.0, "floor_ms": 300.0, "meets_p95_target": True,
        "meets_ratio_target": True, "meets_floor": True,
        "transports": {
            "centralized/tcp": {"remote_fragments": 3, "overhead_ms": ms, "chain_overhead_ms": ms},
            "distributed/libp2p": libp2p,
        },
        "below_centralized": False,
    }  # fmt: skip
    text = markdown(data)
    assert "| centralized/tcp | 3 | 2.00 / 2.90 | 2.00 / 2.90 | - | - |" in text
    assert (
        "| distributed/libp2p | 3 | 2.00 / 2.90 | 2.00 / 2.90 | 2.00 / 2.90 | 1.00 / 1.00 |" in text
    )
    assert "p95 target met; 3x-bare target met" in text and "below centralized: NO" in text


def test_the_nfr_report_states_each_requirement_with_its_numbers():
    """NFR-001..NFR-003 as docs/nfr-report.md words them, from measured data."""
    from qorch.bench.nfr_bench import markdown

    ms = summary([1.0, 2.0, 3.0])
    jobs = {"jobs": 20, "completed": 19, "retries": 7, "fallbacks": 2, "failures": ["x"]}
    data = {
        "topology": "t.toml", "commit": "abc", "machine": {"cpus": 2, "cpu_model": "m"},
        "determinism": {"plans": 24, "identical_plans": 23, "differing": ["qft4/greedy"],
                        "identical_schedules": True},
        "resilience": {"failure_rate": 0.05, "drop_at_s": 2.0, "time_scale": 1e6,
                       "transient": jobs, "node_drop": {**jobs, "dropped_node": "qpu8"}},
        "performance": {"compile_ms": ms, "overhead": {"overhead_ms": ms, "remote_fragments": 9}},
    }  # fmt: skip
    text = markdown(data)
    assert "**23 of 24 identical**" in text and "differing: qft4/greedy" in text
    assert "**19 of 20 completed**, with 7 retries and 2 fallbacks" in text
    assert "node `qpu8` is killed" in text and "failures: x" in text
    assert "**p95 2.9 ms** (required <= 2000 ms)" in text
    assert "**p95 2.90 ms** (required <= 300 ms" in text
