"""The world simulator (DESIGN §6): the executed circuit with each node's and link's noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qorch.circuits import ghz
from qorch.compile.compiler import compile_circuit
from qorch.ingest.load import load_circuit
from qorch.ir import Circuit, Operation, Register
from qorch.plugins import PluginSystem
from qorch.runtime.world import MAX_QUBITS, simulate
from qorch.topology import load_topology, topology_from_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

PLUGINS = PluginSystem()


def split(gate_fidelity: float, link_fidelity: float, measure: float = 1.0):
    """Three nodes of three qubits: a 7-qubit GHZ state must cross links."""
    gates = {"h": gate_fidelity, "cx": gate_fidelity, "measure": measure}
    return topology_from_dict(
        {
            "nodes": [{"name": f"n{i}", "qubits": 3, "gates": gates} for i in range(3)],
            "network": {"all_to_all": True, "link_fidelity": link_fidelity},
        }
    )


def measured_ghz(n: int) -> Circuit:
    c = ghz(n)
    if c.num_clbits:
        return c
    ops = [*c.operations, *(Operation("measure", [q], [q]) for q in range(n))]
    return Circuit([Register("q", n)], [Register("c", n)], ops)


def run(topology, circuit, seed=5, scales=None):
    plan = compile_circuit(circuit, topology, plugins=PLUGINS, seed=1)
    return plan, simulate(circuit, plan, topology, shots=4000, seed=seed, fidelity_scales=scales)


def test_ideal_nodes_and_links_reproduce_the_ideal_distribution_across_nodes():
    plan, result = run(split(1.0, 1.0), measured_ghz(7))
    assert plan.ebits >= 2 and len({f.node for f in plan.fragments if f.kind == "local"}) >= 3
    assert result.simulated and result.noise_channels == 0
    assert set(result.counts) == {"0" * 7, "1" * 7}
    assert result.achieved_fidelity >= 0.99


def test_link_noise_lowers_the_fidelity_and_tracks_the_estimate():
    _, ideal = run(split(1.0, 1.0), measured_ghz(7))
    plan, lossy = run(split(1.0, 0.9), measured_ghz(7))
    assert lossy.noise_channels >= plan.ebits - plan.moves > 0
    assert lossy.achieved_fidelity < ideal.achieved_fidelity - 0.02
    assert abs(lossy.achieved_fidelity - plan.estimated_fidelity) < 0.15


def test_a_degraded_node_lowers_the_fidelity_it_delivers():
    topology = split(0.995, 0.99, measure=0.99)
    plan, normal = run(topology, measured_ghz(7))
    scales = {f.id: 0.9 for f in plan.fragments if f.kind == "local"}
    _, degraded = run(topology, measured_ghz(7), scales=scales)
    assert degraded.achieved_fidelity < normal.achieved_fidelity - 0.05


def test_same_seed_same_counts_and_conditions_are_honoured():
    circuit = load_circuit((EXAMPLES / "circuits" / "teleport.qasm").read_bytes(), plugins=PLUGINS)
    topology = load_topology(EXAMPLES / "topologies" / "noiseless-two-nodes.toml")
    assert any(op.condition for op in circuit.operations)
    _, first = run(topology, circuit, seed=11)
    _, again = run(topology, circuit, seed=11)
    assert first.counts == again.counts and first.achieved_fidelity >= 0.99


@pytest.mark.parametrize(
    ("qubits", "clbits", "reason"),
    [(MAX_QUBITS + 1, 1, "exceed the simulator's limit"), (2, 0, "measures nothing")],
)
def test_what_cannot_be_simulated_says_why(qubits, clbits, reason):
    ops = [Operation("h", [0])] + ([Operation("measure", [0], [0])] if clbits else [])
    circuit = Circuit([Register("q", qubits)], [Register("c", clbits)] if clbits else [], ops)
    topology = topology_from_dict(
        {"nodes": [{"name": "big", "qubits": 64, "gates": {"h": 1.0, "measure": 1.0}}]}
    )
    plan = compile_circuit(circuit, topology, plugins=PLUGINS)
    result = simulate(circuit, plan, topology, shots=10, seed=0)
    assert not result.simulated and reason in result.reason and result.counts == {}


def _qiskit_chain(n: int, entangling_layers: int):
    """A circuit of ``n`` qubits: a GHZ chain (bond dimension 2), then ``entangling_layers``
    layers of random two-qubit gates between far qubits (bond dimension grows)."""
    import numpy as np
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(3)
    qc = QuantumCircuit(n, n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    for _ in range(entangling_layers):
        for q in range(n):
            qc.ry(float(rng.uniform(0, 3)), q)
        order = rng.permutation(n)
        for a, b in zip(order[::2], order[1::2], strict=False):
            qc.cx(int(a), int(b))
    qc.measure(range(n), range(n))
    return qc


def test_the_method_follows_the_entanglement_and_never_changes_the_distribution():
    from qiskit_aer import AerSimulator

    from qorch.runtime import world

    assert world.simulation_method(_qiskit_chain(6, 0), 4000, 0) == "density_matrix"
    assert world.simulation_method(_qiskit_chain(12, 0), 1000, 0) == "statevector"
    weak, strong = _qiskit_chain(18, 0), _qiskit_chain(18, 4)
    assert world.pilot_bond_dimension(weak, 0) == 2
    assert world.pilot_bond_dimension(strong, 0) == world.PILOT_BOND  # the pilot's cap
    assert world.simulation_method(weak, 1000, 0) == "matrix_product_state"
    assert world.simulation_method(strong, 1000, 0) == "statevector"
    # exact either way: the same outcome probabilities from both methods
    sampled = _qiskit_chain(18, 2).remove_final_measurements(inplace=False)
    sampled.save_probabilities()
    probs = {
        method: AerSimulator(method=method).run(sampled).result().data()["probabilities"]
        for method in ("matrix_product_state", "statevector")
    }
    assert np.allclose(probs["matrix_product_state"], probs["statevector"], atol=1e-9)
    assert np.count_nonzero(probs["statevector"] > 1e-9) > 1000  # a state worth comparing


def test_past_the_statevector_limit_a_weakly_entangled_job_is_still_simulated():
    from qorch.runtime import world

    n = 26  # more simulated qubits than a statevector may have
    assert world.MAX_STATEVECTOR_QUBITS < n <= world.MAX_SIMULATED_QUBITS
    assert world.simulation_method(_qiskit_chain(n, 0), 1000, 0) == "matrix_product_state"
    assert world.simulation_method(_qiskit_chain(n, 3), 1000, 0) is None


@pytest.mark.parametrize("seed", range(6))
def test_the_exact_reference_agrees_with_qiskit_aer_and_its_key_format(seed):
    """The exact ideal distribution (DESIGN §6) is keyed like qiskit's counts — two
    registers, last first, clbit 0 rightmost — and matches aer's sampled counts."""
    import random

    from qiskit.quantum_info import hellinger_fidelity
    from qiskit_aer import AerSimulator

    from qorch.circuits import random_circuit
    from qorch.qiskit_bridge import to_qiskit
    from qorch.runtime.world import exact_distribution

    gates = [op for op in random_circuit(5, 30, seed=seed).operations if op.name != "measure"]
    rng = random.Random(seed)
    qubits, clbits = rng.sample(range(5), 5), rng.sample(range(5), 5)
    measures = [Operation("measure", [q], [c]) for q, c in zip(qubits, clbits, strict=True)]
    circuit = Circuit([Register("q", 5)], [Register("a", 3), Register("b", 2)], gates + measures)
    exact = exact_distribution(circuit)
    assert exact is not None and sum(exact.values()) == pytest.approx(1.0)
    counts = AerSimulator(seed_simulator=seed).run(to_qiskit(circuit), shots=20_000)
    counts = counts.result().get_counts()
    assert set(counts) <= set(exact) and all(len(k) == 6 and k[2] == " " for k in exact)
    assert hellinger_fidelity(counts, exact) >= 0.995


def test_no_exact_reference_after_a_mid_circuit_measurement_reset_or_condition():
    from qorch.runtime.world import exact_distribution

    c = [Register("c", 2)]
    q = [Register("q", 2)]
    m0 = Operation("measure", [0], [0])
    assert exact_distribution(Circuit(q, c, [m0, Operation("x", [0])])) is None
    assert exact_distribution(Circuit(q, c, [Operation("reset", [1]), m0])) is None
    assert exact_distribution(Circuit(q, c, [m0, Operation("x", [1])])) is not None
