"""The ``distributed`` orchestration's choreography (issue 17, DESIGN §9) with in-process
node services: nodes run their parts of a plan among themselves; the coordinator hands
out and collects."""

from __future__ import annotations

import time

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qorch.builtin.default_node_type import Simulated
from qorch.circuits import ghz, qft, random_circuit, uniform
from qorch.compile.compiler import compile_circuit
from qorch.errors import FragmentFailed
from qorch.node.service import NodeService
from qorch.plugins import PluginSystem
from qorch.runtime.choreography_runner import ChoreographyRunner, ends
from qorch.runtime.plan_runner import PlanRunner, QuietListener, RunOptions
from qorch.runtime.retry import RetryPolicy
from qorch.testing.node_client import DirectClient, choreographed
from qorch.transport import TransportError

PLUGINS = PluginSystem()
FAST = RetryPolicy(attempts=3, base_s=0.001, cap_s=0.005)
OPTIONS = RunOptions(retry=FAST, peer_wait_s=0.05)


def services(topology, node_type=None):
    kind = node_type or Simulated()
    return {n.name: NodeService(n, kind, seed=i) for i, n in enumerate(topology.nodes)}


def plan_for(circuit, topology, seed=1):
    return compile_circuit(circuit, topology, plugins=PLUGINS, seed=seed)


def run_choreographed(plan, nodes, peers=None, options=OPTIONS, run_id="job-1"):
    """Run ``plan`` choreographed; the runner (with its runs and traffic)."""
    runner = ChoreographyRunner(plan, run_id, DirectClient(nodes), options)

    async def main():
        async with choreographed(nodes, peers):
            try:
                await runner.run()
            except FragmentFailed as exc:
                return exc
        return None

    failure = trio.run(main)
    if failure is not None:
        raise failure
    return runner


def assert_ran_in_order(plan, runs):
    """No fragment started (on its nodes' clocks) before every predecessor ended."""
    for f in plan.fragments:
        start = min(r["started_at"] for r in runs[f.id].records)
        for dep in f.depends_on:
            assert start >= max(r["ended_at"] for r in runs[dep].records), (f.id, dep)


def executions(nodes):
    return sum(s.executions for s in nodes.values())


def test_a_choreographed_plan_runs_every_fragment_once_in_dependency_order():
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    nodes = services(topology)
    runner = run_choreographed(plan, nodes)
    runs = runner.runs
    assert sorted(runs) == sorted(f.id for f in plan.fragments)
    assert all(r.status == "ok" and r.attempts == 1 for r in runs.values())
    remote = [f for f in plan.fragments if f.kind != "local"]
    assert remote and all(len(runs[f.id].records) == 2 for f in remote)
    assert_ran_in_order(plan, runs)
    # each end of each fragment ran exactly once; every window was given back
    assert executions(nodes) == sum(len(ends(f)) for f in plan.fragments)
    assert all(s.status()["active_reservations"] == 0 for s in nodes.values())


def test_the_coordinator_sends_four_calls_per_node_and_the_nodes_talk_directly():
    """Reserve, hand-out, collect, release: two messages each, per node, whatever the
    number of fragments; the hub needs two per fragment end on top of reserve and
    release (the structural contract of issue 17)."""
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    used = {n for f in plan.fragments for n in ends(f)}
    distributed = run_choreographed(plan, services(topology)).traffic
    hub = PlanRunner(plan, "job-1", DirectClient(services(topology)), OPTIONS)
    trio.run(hub.run)
    assert distributed.coordinator_messages == 8 * len(used)
    ends_total = sum(len(ends(f)) for f in plan.fragments)
    assert hub.traffic.coordinator_messages == 4 * len(used) + 2 * ends_total
    assert distributed.coordinator_messages < hub.traffic.coordinator_messages
    assert distributed.peer_messages > 0 and hub.traffic.peer_messages == 0
    assert distributed.critical_path_hops > 0 and hub.traffic.critical_path_hops > 0
    assert distributed.coordinator_bytes > 0


def test_a_fragment_that_fails_on_every_attempt_fails_the_part_naming_its_node():
    class Broken(Simulated):
        def run(self, spec, ops, rng, fidelity_scale=1.0):
            outcome = super().run(spec, ops, rng, fidelity_scale)
            return type(outcome)(outcome.duration_ns, outcome.fidelity, "calibration lost")

    topology = uniform(2, 3)
    plan = plan_for(ghz(5), topology)
    nodes = services(topology)
    victim = plan.fragments[-1].node
    nodes[victim].node_type = Broken()
    with pytest.raises(FragmentFailed) as info:
        run_choreographed(plan, nodes)
    assert victim in info.value.failed
    assert "calibration lost" in str(info.value)
    assert all(s.status()["active_reservations"] == 0 for s in nodes.values())


class Deaf(DirectClient):
    """A peer caller that cannot reach ``lost`` (a node that dropped off for its peers)."""

    def __init__(self, nodes, lost):
        super().__init__(nodes)
        self.lost = lost

    async def call(self, node, verb, body, timeout):
        if node == self.lost:
            raise TransportError("unreachable", "gone", node)
        return await super().call(node, verb, body, timeout)


def test_a_node_its_peers_cannot_reach_is_escalated_and_named():
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    nodes = services(topology)
    lost = plan.fragments[0].node
    with pytest.raises(FragmentFailed) as info:
        run_choreographed(plan, nodes, peers=lambda name: Deaf(nodes, lost))
    assert info.value.failed == (lost,)


class LosesNotices(DirectClient):
    """A peer caller that loses every first notice it sends."""

    def __init__(self, nodes, lost):
        super().__init__(nodes)
        self.lost_log = lost

    async def call(self, node, verb, body, timeout):
        key = (node, body.get("run_id"), body.get("fragment_id"))
        if verb == "notice" and key not in self.lost_log:
            self.lost_log.add(key)
            return {"ok": True}  # lost on the way: never delivered
        return await super().call(node, verb, body, timeout)


def test_a_lost_notice_is_made_good_by_asking_the_peer():
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    nodes = services(topology)
    lost: set = set()
    runner = run_choreographed(plan, nodes, peers=lambda name: LosesNotices(nodes, lost))
    assert lost, "the plan sends notices"
    assert_ran_in_order(plan, runner.runs)
    assert executions(nodes) == sum(len(ends(f)) for f in plan.fragments)


def test_a_restarted_coordinator_collects_the_part_that_exists_and_nothing_runs_twice():
    """The first coordinator hands out and dies (its runner cancelled, windows kept); the
    nodes finish; a second one reserves with the held windows, hands out the same parts
    (the nodes keep theirs) and collects the records."""
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    nodes = services(topology)

    class KeepWindows(QuietListener):
        def keep_windows(self):
            return True

    first = ChoreographyRunner(plan, "job-9", DirectClient(nodes), OPTIONS, KeepWindows())

    async def main():
        async with choreographed(nodes):
            with trio.move_on_after(5) as scope:
                await first.reserve()
                await first.listener.on_held()
                for node, body in first.parts().items():
                    await first.client.call(node, "handout", body, 1.0)
                scope.cancel()  # the coordinator dies here
            held = dict(first.reservations)
            second = ChoreographyRunner(
                plan, "job-9", DirectClient(nodes), RunOptions(retry=FAST, held=held)
            )
            return await second.run()

    runs = trio.run(main)
    assert_ran_in_order(plan, runs)
    assert executions(nodes) == sum(len(ends(f)) for f in plan.fragments)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**16),
    qubits=st.integers(4, 7),
    nodes_count=st.integers(2, 3),
    lose=st.booleans(),
)
def test_property_no_fragment_starts_early_and_none_runs_twice(seed, qubits, nodes_count, lose):
    """Issue 17's state invariants over random plans, with or without lost notices."""
    topology = uniform(nodes_count, (qubits + nodes_count - 1) // nodes_count + 1)
    plan = plan_for(random_circuit(qubits, 3 * qubits, seed=seed), topology, seed=seed)
    nodes = services(topology)
    lost: set = set()
    peers = (lambda name: LosesNotices(nodes, lost)) if lose else None
    started = time.time()
    runner = run_choreographed(plan, nodes, peers=peers)
    assert_ran_in_order(plan, runner.runs)
    assert executions(nodes) == sum(len(ends(f)) for f in plan.fragments)
    assert all(r["started_at"] >= started for run in runner.runs.values() for r in run.records)
