"""Running plans on nodes (FR-005, FR-006, FR-007, NFR-002) with in-process node services."""

from __future__ import annotations

import time

import pytest
import trio

from qorch.builtin.default_node_type import Simulated
from qorch.circuits import ghz, qft, uniform
from qorch.compile.compiler import compile_circuit
from qorch.errors import FragmentFailed, ReservationFailed
from qorch.ir import Circuit, Operation, Register
from qorch.node.service import NodeService
from qorch.plugins import PluginSystem
from qorch.runtime.plan_runner import (
    PlanRunner,
    QuietListener,
    RunOptions,
    fidelity_scales,
    qubits_per_node,
    wire_ops,
)
from qorch.runtime.retry import RetryPolicy
from qorch.runtime.world import simulate
from qorch.testing.node_client import DirectClient
from qorch.topology import topology_from_dict
from qorch.transport import TransportError

PLUGINS = PluginSystem()
FAST = RetryPolicy(attempts=3, base_s=0.001, cap_s=0.005)


def services(topology, clock=time.time):
    node_type = Simulated()
    return {
        n.name: NodeService(n, node_type, seed=i, clock=clock) for i, n in enumerate(topology.nodes)
    }


class LosesFirstReply:
    """A client whose first ``verb`` call reaches the node but whose answer is lost
    (``timeout``); ``lost`` holds that call's body and the node's reply."""

    def __init__(self, inner, verb):
        self.inner, self.verb, self.lost = inner, verb, []

    async def call(self, node, verb, body, timeout):
        reply = await self.inner.call(node, verb, body, timeout)
        if verb == self.verb and not self.lost:
            self.lost.append((body, reply))
            raise TransportError("timeout", "the reply was lost", node)
        return reply


def plan_for(circuit, topology, seed=1):
    return compile_circuit(circuit, topology, plugins=PLUGINS, seed=seed)


def test_fragments_run_after_their_dependencies_and_every_window_is_released():
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    nodes = services(topology)
    client = DirectClient(nodes)
    runs = trio.run(PlanRunner(plan, "job-1", client, RunOptions(retry=FAST)).run)
    assert sorted(runs) == sorted(f.id for f in plan.fragments)
    assert all(r.status == "ok" and r.attempts == 1 for r in runs.values())
    starts, ends = {}, {}
    for i, (event, _node, verb, fragment) in enumerate(client.log):
        if verb == "execute" and event == "start":
            starts.setdefault(fragment, i)
        elif verb == "execute" and event == "end":
            ends[fragment] = i  # a remote fragment ends when its last node answers
    for f in plan.fragments:
        assert all(starts[f.id] > ends[dep] for dep in f.depends_on), f.id
    remote = [f for f in plan.fragments if f.kind != "local"]
    assert remote and all(len(runs[f.id].records) == 2 for f in remote)
    assert all(svc.status()["active_reservations"] == 0 for svc in nodes.values())


def test_reserved_qubits_follow_the_plan():
    topology = uniform(3, 3)
    plan = plan_for(qft(7), topology)
    held = qubits_per_node(plan)
    assert plan.moves == 0  # a static plan: each node holds what it starts with
    used = {n for f in plan.fragments for n in f.nodes}
    assert held == {n: max(1, plan.initial_placement.count(n)) for n in sorted(used)}


def test_transient_failures_are_retried_and_recorded_with_the_same_seed_the_same_way():
    topology = uniform(2, 3)
    plan = plan_for(ghz(5), topology)
    target = plan.fragments[-1].id
    outcomes = []
    for _ in range(2):
        seen = set()

        def flaky(node, verb, body, seen=seen):
            key = (verb, body.get("correlation", {}).get("fragment_id"))
            if verb == "execute" and key[1] == target and key not in seen:
                seen.add(key)
                return "timeout"
            return None

        runner = PlanRunner(
            plan, "job-2", DirectClient(services(topology), flaky), RunOptions(retry=FAST, seed=4)
        )
        runs = trio.run(runner.run)
        outcomes.append((runs[target].attempts, runs[target].errors))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 2 and "timeout" in outcomes[0][1][0]


def test_a_fragment_that_keeps_failing_fails_the_job_with_where_and_why():
    topology = uniform(2, 3)
    plan = plan_for(ghz(5), topology)
    victim = next(f for f in plan.fragments if f.kind == "local")
    nodes = services(topology)

    def down(node, verb, body):
        if verb == "execute" and node == victim.node:
            return "unreachable"
        return None

    with pytest.raises(FragmentFailed) as info:
        trio.run(PlanRunner(plan, "job-3", DirectClient(nodes, down), RunOptions(retry=FAST)).run)
    failure = info.value.to_dict()
    assert failure["nodes"] == [victim.node] and failure["attempts"] == 3
    assert "unreachable" in failure["error"]
    assert all(svc.status()["active_reservations"] == 0 for svc in nodes.values())


def test_a_busy_node_is_waited_for_until_its_next_free_window():
    topology = uniform(1, 4)
    plan = plan_for(ghz(3), topology)
    nodes = services(topology)
    svc = nodes["n0"]
    start = time.time()
    other = {
        "correlation": {"job_id": "other", "fragment_id": "*", "attempt": 0, "request_id": "x"},
        "operation": "job", "qubits": 4, "start": start, "duration_s": 0.3, "min_fidelity": 0.0,
    }  # fmt: skip
    assert trio.run(svc, "reserve", other, "someone")["ok"]
    runner = PlanRunner(plan, "job-4", DirectClient(nodes), RunOptions(retry=FAST, deadline_s=10))
    runs = trio.run(runner.run)
    assert all(r.status == "ok" for r in runs.values())
    assert min(r.started_at for r in runs.values()) >= start + 0.3 - 1e-3
    # busy past the job's whole deadline: the job cannot start at all
    busy = {**other, "start": time.time(), "duration_s": 5.0}
    assert trio.run(svc, "reserve", busy, "someone")["ok"]
    short = PlanRunner(plan, "job-5", DirectClient(nodes), RunOptions(retry=FAST, deadline_s=0.1))
    with pytest.raises(ReservationFailed, match="refused to hold"):
        trio.run(short.run)


def test_two_jobs_that_each_got_one_of_the_others_nodes_do_not_deadlock():
    """Job a is granted n0 first, job b n1: each then needs the other's node. Waiting in
    node-name order (b gives n1 back) lets both finish long before the deadline."""
    topology = uniform(2, 2)
    plan = plan_for(ghz(4), topology)
    assert qubits_per_node(plan) == {"n0": 2, "n1": 2}  # each job fills both nodes
    nodes = services(topology)
    slow = {("job-a", "n1"), ("job-b", "n0")}

    def delay(node, verb, body):
        return 0.05 if verb == "reserve" and (body["correlation"]["job_id"], node) in slow else 0

    client = DirectClient(nodes, delay=delay)
    released: list[tuple[str, str]] = []

    class Released(QuietListener):
        async def on_released(self, run_id, node, reservation_id):
            released.append((run_id, node))

    results = {}

    async def one(job):
        runner = PlanRunner(plan, job, client, RunOptions(retry=FAST, deadline_s=3), Released())
        results[job] = await runner.run()

    async def both():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "job-a")
            nursery.start_soon(one, "job-b")

    trio.run(both)
    assert all(r.status == "ok" for runs in results.values() for r in runs.values())
    assert released[0] == ("job-b", "n1")  # b gave n1 back before anything ran
    assert sorted(released[1:]) == [("job-a", "n0"), ("job-a", "n1"), ("job-b", "n0"),
                                    ("job-b", "n1")]  # fmt: skip
    assert all(svc.status()["active_reservations"] == 0 for svc in nodes.values())


def test_a_lost_reply_is_asked_again_under_the_same_attempt_and_not_run_twice():
    """NFR-002/FR-010: the node ran the fragment but its answer was lost (a timeout):
    the retry names the same attempt, so the node answers from its record."""
    topology = uniform(2, 4)
    plan = plan_for(ghz(3), topology)
    nodes = services(topology)
    client = LosesFirstReply(DirectClient(nodes), "execute")
    runs = trio.run(PlanRunner(plan, "job-7", client, RunOptions(retry=FAST)).run)
    assert [body["correlation"]["attempt"] for body, _ in client.lost] == [0]
    assert all(r.status == "ok" for r in runs.values())
    assert sum(r.attempts for r in runs.values()) == len(runs) + 1  # one retry
    pairs = sum(len(r.nodes) for r in runs.values())
    assert sum(s.executions for s in nodes.values()) == pairs
    assert sum(s.repeats for s in nodes.values()) == 1


def test_translated_operations_reach_the_node_in_its_native_gates():
    """A node that does not offer ``cp`` or ``h`` gets the gates the compiler translated
    them into (found by the experiment suite: the node refused ``cp``)."""
    from qorch.topology import load_topology
    from tests.conftest import REPO

    topology = load_topology(REPO / "examples" / "topologies" / "four-heterogeneous.toml")
    plan = plan_for(qft(8), topology, seed=7)
    translated = [op for f in plan.fragments for op in f.ops if op.native]
    assert translated  # the plan does use translations
    nodes = services(topology)
    runs = trio.run(PlanRunner(plan, "job-8", DirectClient(nodes), RunOptions(retry=FAST)).run)
    assert all(r.status == "ok" and r.attempts == 1 for r in runs.values())
    for f in plan.fragments:
        sent = {op["name"] for op in wire_ops(f)}
        assert sent <= set(topology.node(f.nodes[0]).gates) | {"measure"}, (f.id, sent)


def test_the_executed_plan_simulates_to_the_ideal_distribution_on_ideal_nodes():
    gates = {"h": 1.0, "cx": 1.0, "measure": 1.0}
    topology = topology_from_dict(
        {
            "nodes": [{"name": f"n{i}", "qubits": 3, "gates": gates} for i in range(3)],
            "network": {"all_to_all": True, "link_fidelity": 1.0},
        }
    )
    ops = [*ghz(7).operations, *(Operation("measure", [q], [q]) for q in range(7))]
    circuit = Circuit([Register("q", 7)], [Register("c", 7)], ops)
    plan = plan_for(circuit, topology)
    runs = trio.run(
        PlanRunner(plan, "job-6", DirectClient(services(topology)), RunOptions(retry=FAST)).run
    )
    result = simulate(
        circuit, plan, topology, shots=2000, seed=1, fidelity_scales=fidelity_scales(runs)
    )
    assert plan.ebits > 0 and set(result.counts) == {"0" * 7, "1" * 7}
    assert result.achieved_fidelity >= 0.99


def test_a_lost_reservation_reply_is_asked_again_and_gets_the_same_window():
    """A reserve whose answer was lost is tried again (seeded backoff); the node gives
    the job the window it already holds, so none is left behind (FR-005, NFR-002)."""
    topology = uniform(1, 4)
    plan = plan_for(ghz(4), topology)
    nodes = services(topology)
    client = LosesFirstReply(DirectClient(nodes), "reserve")
    runs = trio.run(PlanRunner(plan, "job-9", client, RunOptions(retry=FAST, deadline_s=5)).run)
    assert len(client.lost) == 1 and all(r.status == "ok" for r in runs.values())
    lost = [reply["reservation"]["reservation_id"] for _, reply in client.lost]
    records = [rec for r in runs.values() for rec in r.records]
    assert {rec["reservation_id"] for rec in records} == {lost[0]}
    assert all(svc.status()["active_reservations"] == 0 for svc in nodes.values())
