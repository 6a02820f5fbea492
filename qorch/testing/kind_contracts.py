"""Contract tests for parsers, fallback policies, node types and fault injectors (DESIGN §4).

``tests/test_kind_contracts.py`` subclasses these for every installed implementation of
the four kinds (as :mod:`qorch.testing.compile_contract`, ``transport_contract`` and
``store_contract`` do for the other four), so an implementation from a plugin pack is held
to what the kernel relies on:

* a **parser** names its formats, reads the Bell program of each format it claims that the
  contract knows, and turns bad input into a :class:`~qorch.errors.CircuitError` (never
  another exception: FR-014);
* a **fallback policy** either declines (``None``) or re-plans on the snapshot with every
  failed node left out and only existing qubits kept on available nodes (FR-007);
* a **node type** describes nodes it can run, accounts fidelities in ``[0, 1]`` that a
  degradation never raises, reports an unoffered gate as an outcome error instead of
  raising, and draws randomness only from the ``rng`` it is given (FR-005, NFR-001);
* a **fault injector** returns valid events on nodes of the topology, the same ones for
  the same seed (FR-013, NFR-001).

Subclasses provide two fixtures: ``plugins`` (a :class:`~qorch.plugins.PluginSystem`)
and ``name`` (the implementation under test).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from qorch.circuits import ghz, uniform
from qorch.compile.compiler import compile_circuit
from qorch.errors import CircuitError, FragmentFailed
from qorch.faults import FaultEvent
from qorch.interfaces import NodeType, Outcome, Plugins, Replan
from qorch.ir import Circuit
from qorch.source import CircuitSource
from qorch.topology import NodeSpec

BELL = {
    "qasm2": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    "h q[0];\ncx q[0],q[1];\nmeasure q -> c;\n",
    "qasm3": 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n",
}
#: inputs no parser may answer with anything but a CircuitError (ingestion has already
#: refused empty, oversized and badly encoded input: FR-014)
BAD_TEXT = [
    "OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n",
    "OPENQASM 3.0;\nqubit[1] q;\nh q[5];\n",
    "\x01 not a program {",
]


def _bell_object() -> object:
    from qiskit import QuantumCircuit  # qiskit only for the one format that needs it

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


class ParserContract:
    """Every parser: formats, the Bell program, bad input as a CircuitError."""

    def test_formats_are_named(self, plugins: Plugins, name: str) -> None:
        formats = plugins.parser(name).formats
        assert formats and all(isinstance(f, str) and f for f in formats)

    def test_reads_the_bell_program_of_each_format_it_claims(
        self, plugins: Plugins, name: str
    ) -> None:
        parser = plugins.parser(name)
        known = [f for f in parser.formats if f in BELL or f == "qiskit"]
        if not known:
            pytest.skip(f"{name} reads no format this contract has a sample of")
        limits = plugins.settings.limits
        for fmt in known:
            source = (
                CircuitSource(obj=_bell_object())
                if fmt == "qiskit"
                else CircuitSource(text=BELL[fmt])
            )
            circuit = parser.parse(source, limits)
            assert isinstance(circuit, Circuit)
            circuit.validate()
            assert [op.name for op in circuit.operations if op.name != "barrier"] == [
                "h",
                "cx",
                "measure",
                "measure",
            ]
            assert circuit == parser.parse(source, limits)

    @pytest.mark.parametrize("text", BAD_TEXT)
    def test_bad_input_is_a_circuit_error(self, plugins: Plugins, name: str, text: str) -> None:
        parser = plugins.parser(name)
        source = CircuitSource(obj=text) if "qiskit" in parser.formats else CircuitSource(text)
        with pytest.raises(CircuitError):
            parser.parse(source, plugins.settings.limits)


class FallbackContract:
    """Every fallback policy: ``None`` or a re-plan without the failed nodes."""

    def test_a_replan_leaves_the_failed_nodes_out(self, plugins: Plugins, name: str) -> None:
        topology = uniform(3, 3)
        plan = compile_circuit(ghz(6), topology, plugins=plugins, seed=1)
        node = plan.fragments[0].nodes[0]
        failure = FragmentFailed(plan.fragments[0].id, (node,), 3, "timeout")
        policy = plugins.create("fallback", name)
        replan = policy.replan_on(failure, plan, topology)
        if replan is None:
            return
        assert isinstance(replan, Replan)
        assert {n.name for n in replan.topology.nodes} == {n.name for n in topology.nodes}
        assert not replan.topology.node(node).available
        available = {n.name for n in replan.topology.nodes if n.available}
        for qubit, homes in replan.keep.items():
            assert 0 <= qubit < plan.num_qubits
            assert homes and set(homes) <= available
        assert replan == policy.replan_on(failure, plan, topology)


class NodeTypeContract:
    """Every node type: describable, honest fidelities, errors as outcomes, seeded."""

    def _node(self, plugins: Plugins, name: str) -> tuple[NodeType, NodeSpec]:
        node_type = plugins.create("node_type", name)
        return node_type, node_type.describe("n0")

    def _ops(self, spec: NodeSpec) -> list[dict[str, Any]]:
        one = sorted(g for g in spec.gates if g not in ("measure", "reset"))[:3]
        return [{"name": g, "qubits": [0]} for g in one] + [{"name": "measure", "qubits": [0]}]

    def test_describes_a_node_it_can_run(self, plugins: Plugins, name: str) -> None:
        node_type, spec = self._node(plugins, name)
        assert spec.name == "n0" and spec.qubits > 0 and spec.gates
        outcome = node_type.run(spec, self._ops(spec), random.Random(3), 1.0)
        assert isinstance(outcome, Outcome)
        assert 0.0 <= outcome.fidelity <= 1.0 and outcome.duration_ns >= 0.0

    def test_a_degradation_never_raises_fidelity(self, plugins: Plugins, name: str) -> None:
        node_type, spec = self._node(plugins, name)
        ops = self._ops(spec)
        full = node_type.run(spec, ops, random.Random(3), 1.0)
        degraded = node_type.run(spec, ops, random.Random(3), 0.5)
        assert degraded.fidelity <= full.fidelity

    def test_an_unoffered_gate_is_an_outcome_error(self, plugins: Plugins, name: str) -> None:
        node_type, spec = self._node(plugins, name)
        unoffered = [{"name": "no-such-gate", "qubits": [0]}]
        outcome = node_type.run(spec, unoffered, random.Random(0), 1.0)
        assert outcome.error

    def test_randomness_comes_from_the_rng(self, plugins: Plugins, name: str) -> None:
        node_type, spec = self._node(plugins, name)
        ops = self._ops(spec)
        runs = [node_type.run(spec, ops, random.Random(11), 1.0) for _ in range(2)]
        assert runs[0] == runs[1]


class FaultContract:
    """Every fault injector: valid events on the topology's nodes (or the coordinator,
    for a ``coordinator-crash``), seeded."""

    def test_events_are_valid_and_seeded(self, plugins: Plugins, name: str) -> None:
        topology = uniform(4, 3)
        injector = plugins.create("fault", name)
        events = injector.events(topology, random.Random(5))
        assert all(isinstance(e, FaultEvent) for e in events)
        names = {n.name for n in topology.nodes}
        on = [e.node if e.kind != "coordinator-crash" else "coordinator" for e in events]
        assert all(node in names | {"coordinator"} for node in on)
        assert all(e.node in names for e in events if e.kind != "coordinator-crash")
        assert all(e.peer in names | {""} and e.start_s >= 0 for e in events)
        assert events == injector.events(topology, random.Random(5))
