"""The fidelity a plan predicts (FR-004, FR-013): honest against what the world simulator
measures, with finite shots, readout errors and a fallback when the ideal is out of reach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qorch.circuits import ghz, qft
from qorch.compile.compiler import compile_circuit
from qorch.compile.fidelity import (
    GATE_PRODUCT,
    OUTPUT_DISTRIBUTION,
    expected_sqrt_poisson,
    ideal_outcomes,
)
from qorch.harness.suite import measure_all
from qorch.ingest.load import load_circuit
from qorch.ir import Circuit, Operation, Register
from qorch.runtime.world import simulate
from qorch.topology import load_topology, topology_from_dict
from tests.conftest import CORPUS, needs_corpus

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def uniform_nodes(gate: float, measure: float = 1.0, link: float = 1.0, qubits: int = 4):
    gates = {g: gate for g in ("h", "cx", "x", "rz", "sx", "cp", "swap")}
    gates["measure"] = measure
    return topology_from_dict(
        {
            "nodes": [{"name": f"n{i}", "qubits": qubits, "gates": gates} for i in range(3)],
            "network": {"all_to_all": True, "link_fidelity": link},
        }
    )


def test_expected_sqrt_of_poisson_matches_sampling_across_the_switch_to_the_series():
    rng = np.random.default_rng(1)
    lam = np.array([0.0, 0.3, 2.0, 17.0, 59.9, 60.0, 400.0])
    got = expected_sqrt_poisson(lam)
    sampled = np.sqrt(rng.poisson(lam[:, None], size=(len(lam), 400_000))).mean(axis=1)
    assert got[0] == 0.0
    assert got == pytest.approx(sampled, rel=3e-3, abs=2e-3)
    assert np.all(np.diff(got) > 0)


def test_noiseless_nodes_predict_the_shot_noise_of_a_uniform_output(plugins):
    """A 10-qubit QFT of |0> is uniform: with 1,000 shots even perfect nodes score far below
    1, and the prediction says how far (compared with numpy multinomial draws)."""
    circuit = measure_all(qft(10))
    topology = uniform_nodes(1.0)
    plan = compile_circuit(circuit, topology, plugins=plugins, shots=1000)
    assert plan.fidelity_estimate == OUTPUT_DISTRIBUTION and plan.shots == 1000
    rng = np.random.default_rng(3)
    draws = rng.multinomial(1000, np.full(1024, 1 / 1024), size=200) / 1000
    empirical = (np.sqrt(draws * (1 / 1024)).sum(axis=1) ** 2).mean()
    assert plan.estimated_fidelity == pytest.approx(empirical, abs=0.01)
    assert plan.estimated_fidelity < 0.7
    infinite = compile_circuit(circuit, topology, plugins=plugins)
    assert infinite.estimated_fidelity == pytest.approx(1.0) and infinite.shots == 0


def test_readout_errors_lower_a_ghz_estimate_as_they_lower_the_measured_fidelity(plugins):
    circuit = measure_all(ghz(8))
    perfect = compile_circuit(circuit, uniform_nodes(1.0), plugins=plugins)
    noisy = uniform_nodes(1.0, measure=0.97)
    plan = compile_circuit(circuit, noisy, plugins=plugins, shots=4000)
    assert perfect.estimated_fidelity == pytest.approx(1.0)
    world = simulate(circuit, plan, noisy, shots=4000, seed=2)
    # 8 independent 3 % flips leave 0.97^8 of the mass on the two ideal outcomes
    assert plan.estimated_fidelity == pytest.approx(world.achieved_fidelity, abs=0.01)
    assert plan.estimated_fidelity < 0.85


def test_a_mid_circuit_measurement_is_predicted_from_its_branches(plugins):
    """The ideal distribution of a circuit measured mid-way is enumerated branch by branch;
    the prediction then tracks the world simulator (its reference sampled) within the
    shot noise of 4,000 shots (a Clifford circuit: the model is exact here)."""
    q, c = [Register("q", 2)], [Register("c", 2)]
    ops = [
        Operation("h", [0]),
        Operation("measure", [0], [0]),
        Operation("cx", [0, 1]),
        Operation("measure", [1], [1]),
    ]
    circuit = Circuit(q, c, ops)
    assert ideal_outcomes(circuit, 16) is None
    topology = uniform_nodes(0.97, measure=0.95, link=0.9)
    plan = compile_circuit(circuit, topology, plugins=plugins, shots=4000)
    assert plan.fidelity_estimate == OUTPUT_DISTRIBUTION
    world = simulate(circuit, plan, topology, shots=4000, seed=3)
    assert world.ideal_shots > 0  # the world samples its reference: the estimate knows
    assert plan.estimated_fidelity == pytest.approx(world.achieved_fidelity, abs=0.01)
    assert plan.estimated_fidelity < 0.97


def test_out_of_reach_falls_back_to_the_gate_product(plugins):
    """17 qubits and a mid-circuit measurement: no exact ideal distribution (the branch
    simulator stops at 16 qubits), so the plan keeps the gate product and says so."""
    q, c = [Register("q", 17)], [Register("c", 2)]
    ops = [Operation("h", [0]), Operation("measure", [0], [0]), Operation("cx", [0, 16])]
    circuit = Circuit(q, c, [*ops, Operation("measure", [16], [1])])
    plan = compile_circuit(circuit, uniform_nodes(0.99, qubits=6), plugins=plugins, shots=100)
    assert plan.fidelity_estimate == GATE_PRODUCT
    assert plan.estimated_fidelity == pytest.approx(1 - plan.cost["fidelity_risk"])


def test_the_estimate_is_part_of_the_deterministic_plan(plugins):
    topology = load_topology(EXAMPLES / "topologies" / "four-heterogeneous.toml")
    circuit = measure_all(qft(8))
    a = compile_circuit(circuit, topology, plugins=plugins, seed=4, shots=2000)
    b = compile_circuit(circuit, topology, plugins=plugins, seed=4, shots=2000)
    other_shots = compile_circuit(circuit, topology, plugins=plugins, seed=4, shots=200)
    assert a.canonical_json() == b.canonical_json()
    assert other_shots.estimated_fidelity < a.estimated_fidelity


HONEST = [  # QASMBench "small" circuits the ideal distribution can be read off
    "adder_n4",
    "basis_change_n3",
    "bell_n4",
    "cat_state_n4",
    "error_correctiond3_n5",
    "fredkin_n3",
    "grover_n2",
    "hs4_n4",
    "lpn_n5",
    "qaoa_n6",
    "qft_n4",
    "sat_n7",
    "simon_n6",
    "toffoli_n3",
    "variational_n4",
    "wstate_n3",
]


@needs_corpus
def test_the_estimator_is_honest_on_corpus_circuits(plugins):
    """Issue 7's target: mean |estimated − achieved| <= 0.03 (the four-node example)."""
    topology = load_topology(EXAMPLES / "topologies" / "four-heterogeneous.toml")
    errors = []
    for name in HONEST:
        path = next(CORPUS.glob(f"small/{name}/{name}.qasm"))
        circuit = load_circuit(path.read_bytes(), plugins=plugins, directory=path.parent)
        plan = compile_circuit(circuit, topology, plugins=plugins, seed=7, shots=2000)
        assert plan.fidelity_estimate == OUTPUT_DISTRIBUTION, name
        world = simulate(circuit, plan, topology, shots=2000, seed=7)
        errors.append(abs(plan.estimated_fidelity - world.achieved_fidelity))
    assert np.mean(errors) <= 0.03
    assert max(errors) < 0.1
