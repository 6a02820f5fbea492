"""Fault injection (FR-013, NFR-001): seeded schedules, what nodes apply, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import trio
import trio.testing

from qorch.builtin.default_node_type import Simulated
from qorch.errors import ConfigError
from qorch.faults import FaultEvent, FaultSchedule, NodeFaults, load_schedule, schedule_from_dict
from qorch.node.service import NodeService
from qorch.plugins import PluginSystem
from qorch.scenarios import build_schedule, load_scenario, scenario_injectors
from qorch.topology import load_topology
from tests.conftest import REPO

PLUGINS = PluginSystem()
TEN = load_topology(REPO / "examples" / "topologies" / "small-world-10.toml")
SCENARIO = [
    {"kind": "latency-spike", "node": "random", "start_s": 1.0, "jitter_s": 2.0},
    {"kind": "node-drop", "node": "random", "start_s": 3.0, "restart_after_s": 4.0},
    {"kind": "fidelity-degradation", "node": "qpu2", "fidelity_scale": 0.8},
]


def schedule(seed: int) -> FaultSchedule:
    return build_schedule(scenario_injectors(PLUGINS, SCENARIO), TEN, seed)


def test_the_same_scenario_and_seed_give_the_same_schedule_bytes():
    first, again = schedule(7), schedule(7)
    assert first == again and first.digest() == again.digest()
    starts = [e.start_s for e in first.events]
    assert starts == sorted(starts)  # in start order
    by_kind = {e.kind: e for e in first.events}
    spike, degrade, drop = by_kind["latency"], by_kind["degrade"], by_kind["drop"]
    assert 1.0 <= spike.start_s <= 3.0 and spike.delay_ms == 50.0 and spike.duration_s == 5.0
    assert degrade.node == "qpu2" and degrade.fidelity_scale == 0.8
    assert drop.duration_s == 4.0 and {spike.node, drop.node} <= {n.name for n in TEN.nodes}
    others = {schedule(seed).digest() for seed in range(1, 8)}
    assert len(others) > 1  # random nodes and jitter follow the seed
    # the epoch is when a run starts: it does not change the digest
    assert first.starting_at(1e9).digest() == first.digest()


def test_a_schedule_survives_its_file_and_bad_files_are_named(tmp_path):
    path = schedule(3).starting_at(1.7e9).write(tmp_path / "f.json")
    assert load_schedule(path) == schedule(3).starting_at(1.7e9)
    bad = [
        ({"events": [{"kind": "meteor", "node": "a", "start_s": 0}]}, r"events\[0\]: 'kind'"),
        ({"events": [{"kind": "drop", "node": "a", "start_s": -1}]}, r"events\[0\]: 'start_s'"),
        ({"events": "x"}, "expected"),
        ({"events": [], "epoch": "soon"}, "epoch"),
    ]
    for data, where in bad:
        with pytest.raises(ConfigError, match=where):
            schedule_from_dict(data)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        load_schedule(tmp_path / "broken.json")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"kind": "meteor"}], r"faults\[0\].*no fault named 'meteor'"),
        ([{"kind": "latency-spike", "delay_ms": -5}], r"faults\[0\]\.delay_ms = -5"),
        ([{"kind": "node-drop", "colour": "red"}], r"faults\[0\]\.colour"),
        ([{"node": "qpu1"}], r"faults\[0\]: expected a table with kind"),
        ({"kind": "node-drop"}, "expected a list"),
    ],
)
def test_bad_scenarios_name_the_entry_and_the_problem(entries, message):
    with pytest.raises(ConfigError, match=message):
        scenario_injectors(PLUGINS, entries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[faults]]\nkind = "node-drop"\nnode = "nowhere"\n', "'nowhere', not in the topology"),
        ('modes = ["libp2p"]\n', "modes: unknown key"),  # a suite is not a scenario
        ('name = "calm"\n', r"no \[\[faults\]\] table"),
        ("[[faults]\n", "cannot read the fault scenario"),
    ],
)
def test_a_bad_scenario_file_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_scenario(path, PLUGINS, TEN, seed=1)


def test_node_faults_apply_in_their_windows_only():
    events = (
        FaultEvent("latency", "a", 1.0, 2.0, delay_ms=40.0),
        FaultEvent("latency", "a", 2.0, 2.0, delay_ms=10.0),
        FaultEvent("degrade", "a", 0.0, 5.0, fidelity_scale=0.5),
        FaultEvent("degrade", "b", 0.0, 5.0, fidelity_scale=0.1),
    )
    pending = NodeFaults(FaultSchedule(events), "a")
    assert pending.delay_s(1e9) == 0.0 and pending.fidelity_scale(1e9) == 1.0  # no epoch yet
    faults = NodeFaults(FaultSchedule(events, epoch=100.0), "a")
    assert faults.delay_s(100.5) == 0.0 and faults.delay_s(101.5) == pytest.approx(0.04)
    assert faults.delay_s(102.5) == pytest.approx(0.05) and faults.delay_s(104.5) == 0.0
    assert faults.fidelity_scale(104.9) == 0.5 and faults.fidelity_scale(105.0) == 1.0


def test_a_node_answers_late_in_a_spike_and_degrades_without_announcing_it():
    """The delay holds the reply back; the degradation shows in execution records at
    once but reaches adverts only at their next refresh (``changed`` is not set)."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    epoch = 1000.0
    events = (
        FaultEvent("latency", "qpu-a", 0.0, 10.0, delay_ms=250.0),
        FaultEvent("degrade", "qpu-a", 0.0, 10.0, fidelity_scale=0.5),
    )
    node_type = Simulated()
    spec = node_type.describe("qpu-a")
    now = {"t": epoch + 1.0}
    svc = NodeService(
        spec,
        node_type,
        clock=lambda: now["t"],
        faults=NodeFaults(FaultSchedule(events, epoch), "qpu-a"),
    )

    async def main():
        start = trio.current_time()
        status = await svc("status", {}, "peer-x")
        assert trio.current_time() - start == pytest.approx(0.25)
        assert status["fidelity_scale"] == 0.5 and not svc.changed.is_set()
        advertised = svc.offered().gates["cx"].fidelity
        assert advertised == pytest.approx(spec.gates["cx"].fidelity * 0.5)
        now["t"] = epoch + 11.0  # the window is over
        start = trio.current_time()
        status = await svc("status", {}, "peer-x")
        assert trio.current_time() == start and status["fidelity_scale"] == 1.0

    trio.run(main, clock=clock)


def run_with(tmp_path, scenario: str, circuit: str = "ghz5.qasm", env=None) -> dict:
    path = tmp_path / "scenario.toml"
    path.write_text(scenario)
    cmd = [
        sys.executable, "-m", "qorch", "run", str(REPO / "examples" / "circuits" / circuit),
        "--topology", str(REPO / "examples" / "topologies" / "noiseless-two-nodes.toml"),
        "--faults", str(path), "--seed", "5", "--json", "--shots", "500",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("orchestration", ["centralized", "distributed"])
def test_real_node_processes_apply_a_spike_and_a_degradation(tmp_path, orchestration):
    result = run_with(
        tmp_path,
        '[[faults]]\nkind = "latency-spike"\nnode = "ideal-a"\nstart_s = 0\n'
        "duration_s = 120\ndelay_ms = 200\n"
        '[[faults]]\nkind = "fidelity-degradation"\nnode = "ideal-a"\nstart_s = 0\n'
        "duration_s = 120\nfidelity_scale = 0.95\n",
        env={"QORCH_RUNTIME__ORCHESTRATION": orchestration},
    )
    assert [e["kind"] for e in result["faults"]] == ["degrade", "latency"]
    on_a = [f for f in result["fragments"] if "ideal-a" in f["nodes"]]
    assert on_a, result["placement"]
    # the hub waits for each delayed answer; the choreography for its hand-out to ideal-a
    assert result["wall_ms"] >= 200
    for fragment in on_a:
        if orchestration == "centralized":  # the fragment's answer came late
            assert fragment["ended_at"] - fragment["started_at"] >= 0.2
        assert {r["fidelity_scale"] for r in fragment["records"] if r["node"] == "ideal-a"} == {
            0.95
        }
    assert result["achieved_fidelity"] < 0.97  # the noise really worsened (ideal nodes)


@pytest.mark.slow
def test_a_dropped_node_is_planned_around(tmp_path):
    result = run_with(tmp_path, '[[faults]]\nkind = "node-drop"\nnode = "ideal-a"\nstart_s = 0\n')
    assert "ideal-a" not in result["placement"] and result["achieved_fidelity"] >= 0.99
    assert set(result["counts"]) == {"00000", "11111"}


def test_scenario_entries_override_the_configured_defaults_of_their_injector():
    from qorch.config import Settings

    options = {"fault": {"latency-spike": {"delay_ms": 75.0, "duration_s": 9.0}}}
    plugins = PluginSystem(Settings(plugin_options=options))
    entries = [{"kind": "latency-spike", "node": "qpu1", "duration_s": 2.0}]
    (event,) = build_schedule(scenario_injectors(plugins, entries), TEN, seed=0).events
    assert event.delay_ms == 75.0 and event.duration_s == 2.0 and event.node == "qpu1"
