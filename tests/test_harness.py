"""The experiment harness (FR-013, NFR-001): suites, resumable runs, the report."""

from __future__ import annotations

import csv
import json

import pytest

from qorch.errors import ConfigError
from qorch.harness.report import summarize, write_report
from qorch.harness.suite import load_suite
from qorch.harness.suite_runner import read_results, run_suite
from qorch.plugins import PluginSystem
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def suite_file(tmp_path, text: str):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


TINY = f"""
name = "tiny"
seed = 3
shots = 400
modes = ["libp2p", "central"]
topologies = ["{EXAMPLES / "topologies" / "noiseless-two-nodes.toml"}"]

[[circuits]]
generator = "ghz"
sizes = [4]

[[circuits]]
file = "{EXAMPLES / "circuits" / "bell.qasm"}"

[[scenarios]]
name = "baseline"

[[scenarios]]
name = "spike"
faults = [{{kind = "latency-spike", node = "random", start_s = 0, duration_s = 600, delay_ms = 30}}]
"""


def test_the_example_suites_parse_and_count_their_cells():
    quick = load_suite(EXAMPLES / "suites" / "quick.toml")
    assert quick.cells == 4 * 5 * 2 and quick.seed == 7
    assert {a.name for a in quick.arms} == {
        "distributed/libp2p", "distributed/tcp", "centralized/libp2p", "centralized/tcp",
    }  # fmt: skip
    assert [s.name for s in quick.scenarios] == [
        "baseline", "latency-spike", "degradation", "node-drop", "coordinator-crash",
    ]  # fmt: skip
    full = load_suite(EXAMPLES / "suites" / "full.toml")
    assert full.repeats >= 5 and len(full.arms) == 4
    kinds = {f["kind"] for s in full.scenarios for f in s.faults}
    assert kinds == {
        "latency-spike", "fidelity-degradation", "node-drop", "link-latency-spike",
        "coordinator-crash",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("seed = 3", "seed = -1"), "seed = -1: expected an integer >= 0"),
        (
            ('modes = ["libp2p", "central"]', 'modes = ["carrier-pigeon"]'),
            r"modes = \['carrier-pigeon'\]: expected a non-empty list",
        ),
        (("noiseless-two-nodes.toml", "nowhere.toml"), "topologies: .*does not exist"),
        (("sizes = [4]", "sizes = [1]"), r"circuits\[0\]\.sizes"),
        (('generator = "ghz"', 'generator = "magic"'), r"circuits\[0\]\.generator = 'magic'"),
        (('name = "spike"', 'name = "baseline"'), "scenario names must differ"),
        (("shots = 400", "shots = 400\ncolour = 1"), "colour: unknown key"),
    ],
)
def test_a_bad_suite_names_the_key_and_the_problem(tmp_path, change, message):
    old, new = change
    with pytest.raises(ConfigError, match=message):
        load_suite(suite_file(tmp_path, TINY.replace(old, new)))


def test_the_old_modes_mean_what_they_meant_and_the_new_keys_cross_every_arm(tmp_path):
    old = load_suite(suite_file(tmp_path, TINY))
    assert [a.name for a in old.arms] == ["distributed/libp2p", "centralized/tcp"]
    crossed = TINY.replace(
        'modes = ["libp2p", "central"]',
        'orchestrations = ["centralized"]\ntransports = ["libp2p", "tcp"]',
    )
    arms = load_suite(suite_file(tmp_path, crossed)).arms
    assert [a.name for a in arms] == ["centralized/libp2p", "centralized/tcp"]
    both = TINY.replace("modes = [", 'transports = ["tcp"]\nmodes = [')
    with pytest.raises(ConfigError, match="not both"):
        load_suite(suite_file(tmp_path, both))


def test_an_unknown_orchestration_or_transport_names_the_choices(tmp_path):
    text = TINY.replace(
        'modes = ["libp2p", "central"]',
        'orchestrations = ["gossip"]\ntransports = ["carrier-pigeon"]',
    )
    with pytest.raises(ConfigError) as info:
        load_suite(suite_file(tmp_path, text), PluginSystem())
    message = str(info.value)
    assert "no orchestration named 'gossip'; choices: centralized, distributed" in message
    assert "no transport named 'carrier-pigeon'; choices: libp2p" in message


def row(mode, scenario, success=True, latency=10.0, est=0.9, ach=0.88, strategy="partition"):
    base = {"cell": f"{mode}|{scenario}|{latency}", "mode": mode, "scenario": scenario,
            "success": success, "latency_ms": latency, "strategy": strategy}  # fmt: skip
    if not success:
        return {**base, "failure": "job_failed", "failure_message": "no plan"}
    return {
        **base, "orchestration_overhead_ms": latency / 2, "compile_ms": 1.0,
        "estimated_fidelity": est, "achieved_fidelity": ach, "ebits": 2, "retries": 1,
        "fallbacks": 0,
    }  # fmt: skip


def test_the_summary_and_report_say_what_happened(tmp_path):
    rows = [
        row("libp2p", "baseline", latency=10.0),
        row("libp2p", "baseline", latency=30.0, ach=0.8),
        row("libp2p", "drop", success=False),
        row("central", "baseline", latency=5.0),
    ]
    summary = {(s["mode"], s["scenario"]): s for s in summarize(rows)}
    lb = summary[("libp2p", "baseline")]
    assert lb["runs"] == 2 and lb["success_rate"] == 1.0 and lb["latency_median_ms"] == 20.0
    assert lb["mean_abs_fidelity_error"] == pytest.approx((0.02 + 0.1) / 2)
    assert summary[("libp2p", "drop")]["success_rate"] == 0.0
    suite = load_suite(suite_file(tmp_path, TINY))
    env = {"commit": "abc", "machine": {"cpus": 2, "cpu_model": "x", "platform": "p"},
           "versions": {"qorch": "0.1.0"}, "suite_file": "s.toml", "seed": 3}  # fmt: skip
    report = write_report(suite, rows, env, tmp_path).read_text()
    assert "| libp2p | baseline | 2 | 100% | 20.0 / " in report
    assert "0.0467 over 3 runs (target <= 0.03: **not met**" in report
    assert "`libp2p|drop|10.0`: job_failed: no plan" in report
    for png in ("latency.png", "success.png", "fidelity.png", "ebits.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG" and f"]({png})" in report
    with (tmp_path / "summary.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 3


@pytest.mark.slow
def test_a_suite_runs_resumes_and_reruns_with_the_same_plans_and_faults(tmp_path):
    suite = load_suite(suite_file(tmp_path, TINY))
    plugins = PluginSystem()
    first = run_suite(suite, plugins, tmp_path / "a", progress=False)
    assert first == {"ran": 8, "skipped": 0, "report": str(tmp_path / "a" / "report.md")}
    again = run_suite(suite, plugins, tmp_path / "a", progress=False)
    assert again["ran"] == 0 and again["skipped"] == 8  # resumed: nothing left to run
    rerun = run_suite(suite, plugins, tmp_path / "b", progress=False)
    assert rerun["ran"] == 8
    a = {r["cell"]: r for r in read_results(tmp_path / "a")}
    b = {r["cell"]: r for r in read_results(tmp_path / "b")}
    assert set(a) == set(b) and all(r["success"] for r in [*a.values(), *b.values()])
    for cell in a:
        assert a[cell]["plan_digest"] == b[cell]["plan_digest"], cell
        assert a[cell]["schedule_digest"] == b[cell]["schedule_digest"], cell
    spikes = [r for r in a.values() if r["scenario"] == "spike"]
    assert len({r["schedule_digest"] for r in spikes}) == 1  # the same faults in both arms
    assert {(r["orchestration"], r["transport"]) for r in a.values()} == {
        ("distributed", "libp2p"), ("centralized", "tcp"),
    }  # fmt: skip
    assert all(r["coordinator_messages"] > 0 and "critical_path_hops" in r for r in a.values())
    hub = [r for r in a.values() if r["orchestration"] == "centralized"]
    assert hub and all(r["peer_messages"] == 0 for r in hub)
    env = json.loads((tmp_path / "a" / "environment.json").read_text())
    assert env["seed"] == 3 and env["versions"]["qorch-core"] and env["cells"] == 8


def test_repeats_run_with_distinct_seeds_derived_from_the_suites(tmp_path):
    from qorch.harness.suite_runner import _Group

    suite = load_suite(suite_file(tmp_path, TINY))
    plugins = PluginSystem()
    topology, scenario = suite.topologies[0], suite.scenarios[0]
    seeds = [
        _Group(suite, plugins, topology, suite.arms[1], scenario, None, r).job_seed
        for r in range(3)
    ]
    assert seeds == [suite.seed, suite.seed + 1, suite.seed + 2]


@pytest.mark.slow
def test_every_job_of_a_coordinator_crash_completes_after_the_restart_in_both_orchestrations(
    tmp_path,
):
    """Issue 17's contract: the coordinator is a process of its own, killed 0.2 s after
    the group's first submission and started again; every job completes, in both
    orchestrations, and the rows count the restart."""
    text = TINY.replace(
        'modes = ["libp2p", "central"]',
        'orchestrations = ["distributed", "centralized"]\ntransports = ["libp2p"]',
    )
    i = text.index("[[scenarios]]")
    text = text[:i] + (
        '[[scenarios]]\nname = "crash"\n'
        'faults = [{kind = "coordinator-crash", start_s = 0.2, restart_after_s = 1.0}]\n'
    )
    suite = load_suite(suite_file(tmp_path, text))
    run_suite(suite, PluginSystem(), tmp_path / "out", progress=False)
    rows = read_results(tmp_path / "out")
    assert len(rows) == 4 and all(r["success"] for r in rows), rows
    assert all(r["coordinator_restarts"] >= 1 for r in rows[1::2])  # the later job
    assert {r["orchestration"] for r in rows} == {"distributed", "centralized"}
