"""The simulated forms of the protocols equal the explicit protocols (DESIGN §6,
``../shared/notes/protocols.md``).

The world simulator runs cat-entangle folded into one ``cx`` onto the remote half, the
measurements deferred, and a teleport as a relabelling, each with the explicit
protocol's errors carried to where they act (:mod:`qorch.compile.physics`). Here the
explicit protocol of the exported executed circuit — every ancilla, every measurement
(deferred: a classically controlled gate becomes a controlled gate, and the noise of a
correction acts only on the branch that runs it), every noise channel where the
explicit protocol puts it — is simulated independently as a density matrix and compared
with the simulated form, for ebits carrying X, Y or Z and for noisy nodes.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Kraus
from qiskit_aer import AerSimulator
from qiskit_aer.noise import QuantumError

from qorch.compile import noise
from qorch.compile.compiler import compile_circuit
from qorch.compile.executed import EBIT, executed_circuit
from qorch.compile.native import NodeGates
from qorch.compile.physics import physical_run
from qorch.ir import Circuit, Operation, Register
from qorch.qiskit_bridge import standard_gate
from qorch.runtime.world import build_noisy_circuit
from qorch.topology import topology_from_dict

GATES = {"h": 0.995, "x": 0.993, "z": 0.996, "ry": 0.998, "cx": 0.97, "cz": 0.975, "cp": 0.96}


@pytest.fixture(autouse=True)
def _fresh_channels():
    """The channel factories cache; tests here swap the ones they build on."""
    noise.clear_caches()
    yield
    noise.clear_caches()


def two_nodes(link: float, gates: dict[str, float], measure: float = 0.97):
    return topology_from_dict(
        {
            "nodes": [
                {"name": n, "qubits": 1, "gates": {**gates, "measure": measure}} for n in ("a", "b")
            ],
            "links": [{"a": "a", "b": "b", "fidelity": link, "latency_ms": 1.0}],
        }
    )


SHARE = Circuit(
    [Register("q", 2)],
    [],
    [
        Operation("ry", [0], params=[0.7]),
        Operation("ry", [1], params=[1.9]),
        Operation("cp", [0, 1], params=[1.1]),
        Operation("ry", [0], params=[0.4]),
        Operation("ry", [1], params=[2.3]),
    ],
)


def _depolarizing_error(fidelity: float, k: int):
    return noise.depolarizing(fidelity, k).to_aer()


def _controlled_error(error) -> QuantumError:
    """``error`` on the target only when the control qubit reads 1 (the branch where a
    correction runs); the control is decohered, as its measurement does."""
    kraus = Kraus(error.to_quantumchannel()).data
    zero, one = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    # qubit order of the resulting instruction: [control, target] (control least significant)
    ops = [np.kron(np.eye(2), zero)] + [np.kron(k, one) for k in kraus]
    return QuantumError(Kraus(ops))


def _add(qc, error, qubits) -> None:
    if error is not None:
        qc.append(error, qubits)


def explicit_density_matrix(executed, topology):
    """The explicit protocol, measurements deferred, noise where it acts."""
    gates = {n.name: NodeGates(n) for n in topology.nodes}
    qc = QuantumCircuit(executed.circuit.num_qubits)
    record: dict[int, int] = {}  # clbit -> the qubit that holds its deferred value
    fidelity_of = {
        n.name: (lambda name, g=gates[n.name]: g.fidelity(name) if g.cost(name) else 1.0)
        for n in topology.nodes
    }
    for op, step in zip(executed.circuit.operations, executed.steps, strict=True):
        if step.role == EBIT:
            qc.append(standard_gate(op.name, op.params), list(op.qubits))
            if op.name == "cx":  # the pair is made: its noise on the remote half
                link = executed.interactions[step.interaction]
                fid = noise.path_fidelity(topology, link.path)
                _add(qc, noise.werner(fid).to_aer(), [op.qubits[1]])
            continue
        fid = fidelity_of[step.node](op.name)
        if op.name == "measure":
            _add(qc, noise.flip(1 - fid).to_aer(), list(op.qubits))
            record[op.clbits[0]] = op.qubits[0]
        elif op.name == "reset":
            qc.reset(op.qubits[0])
        elif op.condition is not None:
            control = record[op.condition.clbits[0]]
            qc.append(standard_gate(op.name, ()).control(1), [control, *op.qubits])
            error = _depolarizing_error(fid, 1)
            if error is not None:
                qc.append(_controlled_error(error), [control, *op.qubits])
        else:
            qc.append(standard_gate(op.name, op.params), list(op.qubits))
            error = _depolarizing_error(fid, len(op.qubits))
            if error is not None:
                qc.append(error, list(op.qubits))
    qc.save_density_matrix(list(executed.final))
    return AerSimulator(method="density_matrix").run(qc).result().data()["density_matrix"]


def simulated_density_matrix(executed, topology):
    noisy, _ = build_noisy_circuit(executed, topology)
    noisy.save_density_matrix(list(range(executed.num_data)))
    return AerSimulator(method="density_matrix").run(noisy).result().data()["density_matrix"]


def assert_same(executed, topology):
    want = explicit_density_matrix(executed, topology)
    got = simulated_density_matrix(executed, topology)
    assert np.allclose(np.asarray(got), np.asarray(want), atol=1e-10)


@pytest.mark.parametrize("pauli", ["X", "Y", "Z"])
def test_a_share_whose_ebit_carries_a_pauli(monkeypatch, plugins, pauli):
    pure = noise.PauliChannel({"I": 0.0, pauli: 1.0})
    monkeypatch.setattr(noise, "werner", lambda _fid: pure)
    topology = two_nodes(0.9, dict.fromkeys(GATES, 1.0), measure=1.0)
    plan = compile_circuit(SHARE, topology, plugins=plugins, seed=0)
    executed = executed_circuit(SHARE, plan, topology)
    assert [i.kind for i in executed.interactions] == ["entangle"]
    assert_same(executed, topology)
    # and the Pauli matters: the ideal form differs
    monkeypatch.setattr(noise, "werner", lambda _fid: noise.PauliChannel.identity(1))
    noise.clear_caches()
    ideal = simulated_density_matrix(executed, topology)
    monkeypatch.setattr(noise, "werner", lambda _fid: pure)
    noise.clear_caches()
    assert not np.allclose(
        np.asarray(ideal), np.asarray(explicit_density_matrix(executed, topology))
    )


DEPOLARIZING = noise.depolarizing


def biased(fidelity: float, k: int) -> noise.PauliChannel:
    """A Pauli channel of the depolarizing one's error weight but unequal Paulis, so that
    carrying an error to the wrong place shows (depolarizing noise is too symmetric)."""
    import itertools
    import random

    labels = ["".join(p) for p in itertools.product("IXYZ", repeat=k)][1:]
    rng = random.Random(k)
    weights = [rng.random() ** 3 for _ in labels]
    error = DEPOLARIZING(fidelity, k).error_probability()
    probs = {label: error * w / sum(weights) for label, w in zip(labels, weights, strict=True)}
    return noise.PauliChannel({"I" * k: 1 - error, **probs})


@pytest.fixture(params=["depolarizing", "biased"])
def gate_noise(request, monkeypatch):
    """The gates' noise: depolarizing as in the simulator, or biased (see biased())."""
    if request.param == "biased":
        monkeypatch.setattr(noise, "depolarizing", biased)
    return request.param


def test_a_share_on_noisy_nodes_and_link(plugins, gate_noise):
    topology = two_nodes(0.93, GATES)
    plan = compile_circuit(SHARE, topology, plugins=plugins, seed=0)
    executed = executed_circuit(SHARE, plan, topology)
    assert_same(executed, topology)


#: q0 works with q1 on n0, then is teleported to n1 to work with q2
TELEPORTED = Circuit(
    [Register("q", 3)],
    [],
    [
        Operation("ry", [0], params=[0.9]),
        Operation("h", [1]),
        Operation("rx", [0], params=[0.3]),
        Operation("cx", [0, 1]),
        Operation("ry", [0], params=[1.7]),
        Operation("cx", [0, 2]),
    ],
)


def _teleporting_plan():
    """tests/test_executed.py's hand-made teleporting plan, without its measurements."""
    import attrs

    from tests.test_executed import _teleporting_plan as measured_plan

    measures = [Operation("measure", [q], [q]) for q in range(3)]
    plan = measured_plan(
        attrs.evolve(TELEPORTED, operations=TELEPORTED.operations + tuple(measures))
    )
    fragments = tuple(
        attrs.evolve(f, ops=tuple(op for op in f.ops if op.name != "measure"))
        for f in plan.fragments
    )
    return attrs.evolve(plan, fragments=fragments, num_clbits=0, num_ops=6)


@pytest.mark.parametrize("pauli", ["X", "Y", "Z", "noisy"])
def test_a_teleport(monkeypatch, gate_noise, pauli):
    gates = {**GATES, "rx": 0.997}
    if pauli != "noisy":
        monkeypatch.setattr(noise, "werner", lambda _fid: noise.PauliChannel({pauli: 1.0}))
        gates = dict.fromkeys(gates, 1.0)
    topology = topology_from_dict(
        {
            "nodes": [
                {"name": n, "qubits": 2, "gates": {**gates, "measure": 0.96}} for n in ("n0", "n1")
            ],
            "links": [{"a": "n0", "b": "n1", "fidelity": 0.9, "latency_ms": 1.0}],
        }
    )
    executed = executed_circuit(TELEPORTED, _teleporting_plan(), topology)
    assert [i.kind for i in executed.interactions] == ["teleport"]
    assert_same(executed, topology)


def test_the_events_count_what_the_circuit_holds(plugins):
    topology = two_nodes(0.93, GATES)
    plan = compile_circuit(SHARE, topology, plugins=plugins, seed=0)
    executed = executed_circuit(SHARE, plan, topology)
    run = physical_run(executed, topology)
    noisy, built = build_noisy_circuit(executed, topology)
    assert built.channels == run.channels > 0
    assert noisy.num_qubits == run.num_qubits == SHARE.num_qubits + 1  # one open share
