"""Where each error reaches the output (:mod:`qorch.compile.lightcone`) and the outcome
distribution the estimator predicts from it (:func:`qorch.compile.fidelity.noisy_outcomes`),
against exact density-matrix runs of the same events (FR-004, FR-013)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

from qorch.compile import noise
from qorch.compile.fidelity import (
    expected_hellinger,
    expected_sqrt_poisson,
    ideal_outcomes,
    noisy_outcomes,
)
from qorch.compile.lightcone import error_reach, mean_field, transfer
from qorch.compile.physics import Event
from qorch.ir import Circuit, Operation, Register
from qorch.qiskit_bridge import standard_gate


def op(name: str, qubits: list[int], params: tuple[float, ...] = (), clbits: tuple = ()):
    return Event(tuple(qubits), Operation(name, qubits, clbits, params))


def err(channel: noise.PauliChannel, *qubits: int) -> Event:
    return Event(tuple(qubits), channel=channel)


def exact(events: list[Event], num_qubits: int, num_clbits: int) -> np.ndarray:
    """The events' outcome distribution (final measurements only), as a density matrix."""
    qc = QuantumCircuit(num_qubits)
    measured: dict[int, int] = {}
    for e in events:
        if e.channel is not None:
            qc.append(e.channel.to_aer().to_instruction(), list(e.qubits))
        elif e.op.name == "measure":
            measured[e.op.clbits[0]] = e.op.qubits[0]
        else:
            qc.append(standard_gate(e.op.name, e.op.params), list(e.op.qubits))
    order = sorted(measured)
    qc.save_probabilities(qubits=[measured[c] for c in order])
    probs = np.asarray(
        AerSimulator(method="density_matrix").run(qc, shots=1).result().data()["probabilities"]
    )
    out = np.zeros(2**num_clbits)
    for index, p in enumerate(probs):
        out[sum(((index >> i) & 1) << c for i, c in enumerate(order))] += p
    return out


def ideal_of(events: list[Event], num_qubits: int, num_clbits: int):
    ops = [e.op for e in events if e.op is not None]
    return ideal_outcomes(
        Circuit([Register("q", num_qubits)], [Register("c", num_clbits)], ops), num_qubits
    )


def predicted(events: list[Event], num_qubits: int, num_clbits: int) -> np.ndarray:
    reach = error_reach(events, num_qubits, num_clbits)
    assert reach is not None
    return noisy_outcomes(ideal_of(events, num_qubits, num_clbits), reach, num_clbits)


def measure_all(n: int) -> list[Event]:
    flips = [err(noise.flip(0.02 + 0.01 * q), q) for q in range(n)]
    return flips + [op("measure", [q], clbits=(q,)) for q in range(n)]


def test_a_clifford_circuit_with_pauli_noise_is_predicted_exactly():
    """GHZ-3 with depolarizing gates, a Werner-like error between, readout flips and a Z
    right before a measurement: every Pauli's reach is a definite set of flipped bits,
    the state's single-qubit marginals are exact in the mean field, so the prediction is
    the density matrix's distribution (to rounding)."""
    events = [
        op("h", [0]),
        err(noise.depolarizing(0.99, 1), 0),
        op("cx", [0, 1]),
        err(noise.depolarizing(0.97, 2), 0, 1),
        err(noise.werner(0.9), 1),
        op("cx", [1, 2]),
        err(noise.depolarizing(0.95, 2), 1, 2),
        op("s", [2]),
        err(noise.flip(0.05, "Z"), 2),
        *measure_all(3),
    ]
    assert predicted(events, 3, 3) == pytest.approx(exact(events, 3, 3), abs=1e-9)


def test_an_error_outside_the_light_cone_leaves_those_bits_ideal():
    """A Bell pair on qubits 0-1 and an independent rotation on 2: an error on qubit 2
    cannot reach bits 0, 1 (their marginal stays ideal, exactly), and errors on 0-1 do not
    reach bit 2."""
    events = [
        op("h", [0]),
        op("cx", [0, 1]),
        err(noise.depolarizing(0.9, 2), 0, 1),
        op("ry", [2], (0.8,)),
        err(noise.depolarizing(0.8, 1), 2),
        *[op("measure", [q], clbits=(q,)) for q in range(3)],
    ]
    reach = error_reach(events, 3, 3)
    assert reach.bits.tolist() == [[True, True, False], [False, False, True]]
    noisy = predicted(events, 3, 3).reshape(2, 2, 2)  # axes: bit 2, bit 1, bit 0
    truth = exact(events, 3, 3).reshape(2, 2, 2)
    assert noisy.sum(axis=0) == pytest.approx(truth.sum(axis=0), abs=1e-9)
    assert noisy.sum(axis=(1, 2)) == pytest.approx(truth.sum(axis=(1, 2)), abs=1e-9)


def test_a_z_error_on_a_basis_state_and_an_x_error_on_plus_do_nothing():
    """The mean-field state: Z on |1> and X on |+> leave the state as it was, so they
    are taken off the error's probability even where they would reach a bit."""
    events = [
        op("x", [0]),
        op("h", [1]),
        err(noise.flip(0.3, "Z"), 0),
        err(noise.flip(0.3, "X"), 1),
        op("h", [0]),  # the Z on qubit 0 would now flip bit 0 - had the state been |+>
        op("h", [0]),
        op("h", [1]),
        *[op("measure", [q], clbits=(q,)) for q in range(2)],
    ]
    assert len(error_reach(events, 2, 2).index) == 0
    bloch = mean_field(events, 2)
    assert bloch[2][0] == pytest.approx([1, 0, 0, -1])
    assert bloch[3][0] == pytest.approx([1, 1, 0, 0])


def test_a_small_rotation_barely_spreads_an_error():
    """Weights, not sets: an X error before ``rz(θ)`` and a basis change keeps most of its
    effect on the bit as a flip, the rest randomized - ratio ``-cos θ²``-like, between."""
    theta = 0.2
    events = [
        op("h", [0]),
        err(noise.flip(0.1, "Z"), 0),
        op("rz", [0], (theta,)),
        op("h", [0]),
        op("measure", [0], clbits=(0,)),
    ]
    reach = error_reach(events, 1, 1)
    # Z commutes with rz: it reaches the bit through h as a sure flip
    assert reach.ratios[0, 0, 0] == pytest.approx(-1.0)
    events[1] = err(noise.flip(0.1, "X"), 0)
    events[0] = op("ry", [0], (1.0,))  # not an X eigenstate: the X error is not harmless
    reach = error_reach(events, 1, 1)
    # X through rz(θ): cos²θ of it stays X (commutes with the X that h turns Z into)
    assert reach.ratios[0, 0, 0] == pytest.approx(1 - 2 * math.sin(theta) ** 2)


def test_a_pair_of_gates_composes_exactly_before_weights_are_taken():
    """``cx; rz(θ); cx`` is ``rzz(θ)``: an X error on the target before it reaches the
    control's bit only through the sin² of the angle, as the composed gate says, where
    gate-by-gate weights would spread it further."""
    theta = 0.3
    block = [op("cx", [0, 1]), op("rz", [1], (theta,)), op("cx", [0, 1])]
    events = [
        op("h", [0]),
        op("ry", [1], (0.4,)),
        err(noise.flip(0.1, "X"), 1),
        *block,
        op("h", [0]),
        op("measure", [0], clbits=(0,)),
        op("measure", [1], clbits=(1,)),
    ]
    reach = error_reach(events, 2, 2)
    composed = np.eye(16)
    for e in block:
        from qorch.compile.lightcone import _on_pair

        where = 2 if len(e.op.qubits) == 2 else e.op.qubits[0]
        composed = _on_pair(e.op.name, e.op.params, where) @ composed
    rzz = transfer("rzz", (theta,))
    assert composed == pytest.approx(rzz, abs=1e-12)
    assert reach.ratios[0, 0, 0] == pytest.approx(1 - 2 * math.sin(theta) ** 2, abs=1e-12)


def test_the_expected_fidelity_against_a_sampled_reference_matches_sampling():
    """With a reference of M sampled shots (as the world draws when it cannot read the
    ideal off a final state), the prediction is the mean over both samplings."""
    rng = np.random.default_rng(5)
    ideal = np.full(256, 1 / 256)
    noisy = rng.dirichlet(np.ones(256) * 5)
    shots, reference = 500, 2000
    got = expected_hellinger(ideal, noisy, shots, reference)
    draws = []
    for _ in range(400):
        k = rng.multinomial(shots, noisy) / shots
        m = rng.multinomial(reference, ideal) / reference
        draws.append(np.sum(np.sqrt(k * m)) ** 2)
    assert got == pytest.approx(np.mean(draws), abs=0.005)
    assert got < expected_hellinger(ideal, noisy, shots)
    assert expected_sqrt_poisson(np.array([4.0]))[0] < 2.0


def test_a_sure_flip_is_a_flip_whatever_the_state():
    """Errors right before a measurement on states off the Z axis: an X there flips the
    bit for sure, however much of the state it leaves in place (the mean field may only
    make an error's uncertain reach harmless), so the prediction is exact."""
    events = [
        op("ry", [0], (0.8,)),
        op("h", [1]),
        op("rz", [1], (0.3,)),
        op("h", [1]),
        err(noise.depolarizing(0.9, 1), 0),
        err(noise.depolarizing(0.95, 2), 0, 1),
        *measure_all(2),
    ]
    assert predicted(events, 2, 2) == pytest.approx(exact(events, 2, 2), abs=1e-9)


def test_complementary_conditions_predict_as_the_operation_they_make_up():
    """``if (c0 == 0) h q1; if (c0 == 1) h q1`` always runs one ``h``: branch by branch
    (:mod:`qorch.compile.branches`), a flip of c0 switches which one runs and nothing
    else, so the prediction is that of the unconditioned circuit; averaging the two
    conditioned gates instead would spread errors on q1 to a randomized bit."""
    from qorch.compile.branches import condition_branches
    from qorch.compile.fidelity import _by_pattern
    from qorch.compile.physics import PhysicalRun
    from qorch.ir import Condition

    def build(conditioned: bool) -> tuple[Circuit, PhysicalRun]:
        if conditioned:
            gates = [Operation("h", [1], condition=Condition([0], v)) for v in (0, 1)]
        else:
            gates = [Operation("h", [1])]
        ops = [Operation("h", [0]), Operation("h", [1]), Operation("rz", [1], params=[0.3])]
        ops += [Operation("measure", [0], [0]), *gates, Operation("measure", [1], [1])]
        events = [Event(o.qubits, o) for o in ops]
        events.insert(3, err(noise.depolarizing(0.9, 1), 1))
        events.insert(4, err(noise.flip(0.1), 0))  # flips the bit the conditions read
        circuit = Circuit([Register("q", 2)], [Register("c", 2)], ops)
        return circuit, PhysicalRun(tuple(events), 2, 0.0)

    plain = predicted(list(build(False)[1].events), 2, 2)
    circuit, run = build(True)
    got = _by_pattern(run, condition_branches(circuit, 2), circuit)
    assert got == pytest.approx(plain, abs=1e-12)
    averaged = noisy_outcomes(
        ideal_of(list(build(False)[1].events), 2, 2), error_reach(run.events, 2, 2), 2
    )
    assert np.abs(averaged - plain).max() > 0.01
    assert plain == pytest.approx(exact(list(build(False)[1].events), 2, 2), abs=0.01)


def test_a_feed_forward_correction_is_predicted_as_the_world_measures_it(plugins):
    """Teleportation with classically controlled corrections on one noisy node: each
    measurement branch runs its own corrections, a readout error on a bit a correction
    reads is a wrong correction; the prediction tracks the world simulator within the
    shot noise of 20,000 shots."""
    from qorch.compile.compiler import compile_circuit
    from qorch.ir import Condition
    from qorch.runtime.world import simulate
    from qorch.topology import topology_from_dict

    q, c = [Register("q", 3)], [Register("c", 3)]
    ops = [
        Operation("ry", [0], params=[1.1]),
        Operation("h", [1]),
        Operation("cx", [1, 2]),
        Operation("cx", [0, 1]),
        Operation("h", [0]),
        Operation("measure", [0], [0]),
        Operation("measure", [1], [1]),
        Operation("x", [2], condition=Condition([1], 1)),
        Operation("z", [2], condition=Condition([0], 1)),
        Operation("measure", [2], [2]),
    ]
    circuit = Circuit(q, c, ops)
    gates = {"h": 0.97, "x": 0.98, "z": 0.98, "ry": 0.98, "cx": 0.9, "measure": 0.9}
    topology = topology_from_dict({"nodes": [{"name": "a", "qubits": 3, "gates": gates}]})
    plan = compile_circuit(circuit, topology, plugins=plugins, shots=20_000)
    assert plan.fidelity_estimate == "output-distribution"
    world = simulate(circuit, plan, topology, shots=20_000, seed=11)
    assert plan.estimated_fidelity == pytest.approx(world.achieved_fidelity, abs=0.01)
    assert plan.estimated_fidelity < 0.99
