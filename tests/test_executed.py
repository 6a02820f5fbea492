"""The executed circuit and the plan checker against the circuit (DESIGN §6, FR-004).

The executed circuit of a plan is exported as OpenQASM 3 and must reproduce the input's
ideal distribution when simulated noiselessly; the checker proves every placement
strategy's plans compute their circuit (hypothesis circuits in the compile contract,
the QASMBench corpus here); and each mutation of a plan or of its executed circuit is
caught by the checker *and* changes the noiseless counts.
"""

from __future__ import annotations

import math

import attrs
import pytest
import qiskit.qasm3
from qiskit.quantum_info import hellinger_fidelity
from qiskit_aer import AerSimulator

from qorch.circuits import ghz, qft, random_circuit, uniform
from qorch.compile.check import plan_problems
from qorch.compile.compiler import compile_circuit
from qorch.compile.equivalence import state_problems
from qorch.compile.executed import EBIT, PROTOCOL, executed_circuit, execution_order
from qorch.errors import CircuitError
from qorch.ingest.load import load_circuit
from qorch.ir import Circuit, Operation, Register
from qorch.qasm_emit import to_qasm3
from qorch.runtime.world import exact_distribution
from tests.conftest import corpus_files, needs_corpus

SHOTS = 20_000
#: 20,000 shots of a distribution of at most 128 outcomes lose ~(K-1)/(4N) < 0.002 of
#: Hellinger fidelity to shot noise: 0.99 is far above that, far below any mutation's
FLOOR = 0.99


def marginal_counts(executed, input_cregs: int, shots: int = SHOTS, seed: int = 1) -> dict:
    """Noiseless counts of the exported executed circuit over the input's registers."""
    qc = qiskit.qasm3.loads(to_qasm3(executed.circuit))
    counts = AerSimulator(seed_simulator=seed).run(qc, shots=shots).result().get_counts()
    out: dict[str, int] = {}
    for key, value in counts.items():
        parts = key.split(" ")
        kept = " ".join(parts[len(parts) - input_cregs :])
        out[kept] = out.get(kept, 0) + value
    return out


def test_exported_executed_circuit_reproduces_the_ideal_distribution(plugins):
    line = uniform(3, 3, all_to_all=False)
    for circuit in (qft(6), ghz(7), random_circuit(7, 30, seed=3)):
        plan = compile_circuit(circuit, line, plugins=plugins, seed=1, strategy="teleport")
        executed = executed_circuit(circuit, plan, line)
        assert plan.ebits > 0 and executed.num_ancillas > 0
        text = to_qasm3(executed.circuit)
        assert "bit[2] ebit0;" in text and "if (ebit0[0] == true)" in text
        counts = marginal_counts(executed, len(circuit.cregs))
        assert hellinger_fidelity(counts, exact_distribution(circuit)) >= FLOOR


def test_teleports_move_the_qubit_to_the_ebit_half():
    # q0 interacts with q1 on node a, then with q2 on node b: the plan moves it
    circuit = Circuit(
        [Register("q", 3)],
        [Register("c", 3)],
        [
            Operation("h", [0]),
            Operation("h", [0]),
            Operation("rx", [0], params=[0.3]),
            Operation("cx", [0, 1]),
            Operation("h", [0]),
            Operation("cx", [0, 2]),
            *[Operation("measure", [q], [q]) for q in range(3)],
        ],
    )
    plan = _teleporting_plan(circuit)
    executed = executed_circuit(circuit, plan)
    assert any(i.kind == "teleport" for i in executed.interactions)
    assert executed.final[0] >= circuit.num_qubits  # it lives on an ancilla now
    assert plan_problems(plan, TWO_BY_TWO, circuit) == []
    counts = marginal_counts(executed, 1)
    assert hellinger_fidelity(counts, exact_distribution(circuit)) >= FLOOR


TWO_BY_TWO = uniform(2, 2)


def _teleporting_plan(circuit):
    """A hand-made plan: q0 starts on a with q1, is teleported to b (q2's node)."""
    from qorch.plan import PLAN_VERSION, Fragment, Plan, PlanOp

    ops = [
        PlanOp(i, o.name, o.qubits, o.clbits, o.params) for i, o in enumerate(circuit.operations)
    ]

    def local(fid, node, members, deps):
        qubits = tuple(sorted({q for o in members for q in o.qubits}))
        return Fragment(fid, "local", (node,), qubits, tuple(members), deps, 0, (), 0.0, 1.0)

    fragments = (
        local("f0", "n0", [*ops[0:4], ops[7]], ()),
        Fragment(
            "f1", "teleport", ("n0", "n1"), (0,), (), ("f0",), 1, ("n0", "n1"), 0.0, 1.0, slice=1
        ),
        local("f2", "n1", [ops[4], ops[5], ops[6], ops[8]], ("f1",)),
    )
    return Plan(
        PLAN_VERSION,
        "",
        "",
        0,
        "hand",
        "hand",
        0.0,
        3,
        3,
        9,
        ("n0", "n0", "n1"),
        fragments,
        1,
        1,
        1.0,
        0.0,
        {},
    )


def small_corpus_circuits(max_qubits: int = 10):
    from qorch.plugins import PluginSystem

    plugins = PluginSystem()
    out = []
    for path in corpus_files():
        try:
            circuit = load_circuit(path.read_bytes(), plugins=plugins, directory=path.parent)
        except CircuitError:
            continue
        if 2 <= circuit.num_qubits <= max_qubits and len(circuit.operations) <= 400:
            out.append(pytest.param(circuit, id=path.stem))
    return out


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("circuit", small_corpus_circuits() or [None])
def test_every_strategy_computes_the_corpus_circuit(plugins, circuit):
    # nodes of a third of the circuit (plus one) on a line force distribution
    k = 3
    topology = uniform(k, math.ceil(circuit.num_qubits / k) + 1, all_to_all=False)
    for strategy in plugins.registry.names("placement"):
        plan = compile_circuit(circuit, topology, plugins=plugins, seed=2, strategy=strategy)
        assert plan_problems(plan, topology, circuit) == [], strategy


# -- mutations: each is caught by the checker and changes the noiseless counts ----------

MUTANT = Circuit(
    [Register("q", 3)],
    [Register("c", 3)],
    [
        Operation("h", [0]),
        Operation("h", [1]),
        Operation("cp", [0, 1], params=[math.pi]),
        Operation("h", [0]),
        Operation("h", [1]),
        Operation("ry", [2], params=[0.3]),
        Operation("cx", [2, 0]),
        Operation("ry", [2], params=[2.2]),
        *[Operation("measure", [q], [q]) for q in range(3)],
    ],
)
ONE_EACH = uniform(3, 1)  # every two-qubit gate is remote


@pytest.fixture(scope="module")
def mutant_plan():
    from qorch.plugins import PluginSystem

    plan = compile_circuit(MUTANT, ONE_EACH, plugins=PluginSystem(), seed=0)
    assert plan_problems(plan, ONE_EACH, MUTANT) == [] and plan.ebits >= 2
    return plan


def _map_ops(plan, change):
    fragments = tuple(
        attrs.evolve(f, ops=tuple(change(op) for op in f.ops)) for f in plan.fragments
    )
    return attrs.evolve(plan, fragments=fragments)


def _reversed(plan):
    return attrs.evolve(
        plan, fragments=tuple(attrs.evolve(f, ops=f.ops[::-1]) for f in plan.fragments)
    )


def _swap_ry(plan):
    holders = [f for f in plan.fragments if any(op.name == "ry" for op in f.ops)]
    assert len(holders) == 2, "the two ry of qubit 2 sit in two fragments"
    a, b = holders
    swapped = {a.id: b.ops, b.id: a.ops}
    return attrs.evolve(
        plan,
        fragments=tuple(attrs.evolve(f, ops=swapped.get(f.id, f.ops)) for f in plan.fragments),
    )


MUTATIONS = {
    "h becomes x": lambda p: _map_ops(
        p, lambda o: attrs.evolve(o, name="x") if o.name == "h" else o
    ),
    "cp angle 0": lambda p: _map_ops(
        p, lambda o: attrs.evolve(o, params=(0.0,)) if o.name == "cp" else o
    ),
    "fragment ops reversed": _reversed,
    "non-commuting ry swapped between fragments": _swap_ry,
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_plan_mutation_is_caught_and_changes_noiseless_counts(mutant_plan, name):
    mutated = MUTATIONS[name](mutant_plan)
    assert plan_problems(mutated, ONE_EACH, MUTANT) != []
    counts = marginal_counts(executed_circuit(MUTANT, mutated, ONE_EACH), 1)
    assert hellinger_fidelity(counts, exact_distribution(MUTANT)) < FLOOR


def test_the_equivalence_check_alone_catches_a_reordering(mutant_plan):
    # the op-by-op and order checks aside, the executed circuit itself differs
    executed = executed_circuit(MUTANT, _swap_ry(mutant_plan), ONE_EACH)
    unitary = attrs.evolve(MUTANT, operations=MUTANT.operations[:8])
    assert state_problems(unitary, executed) != []


#: GHZ read in the X basis: only even parities, so a dropped z correction shows (a
#: dropped x shows in the Z basis: plain GHZ)
GHZ_X = Circuit(
    [Register("q", 3)],
    [Register("c", 3)],
    [
        Operation("h", [0]),
        Operation("cx", [0, 1]),
        Operation("cx", [1, 2]),
        *[Operation("h", [q]) for q in range(3)],
        *[Operation("measure", [q], [q]) for q in range(3)],
    ],
)


@pytest.mark.parametrize("gate", ["x", "z"])
def test_a_dropped_correction_is_caught_and_changes_noiseless_counts(plugins, gate):
    circuit = GHZ_X if gate == "z" else ghz(3)
    plan = compile_circuit(circuit, ONE_EACH, plugins=plugins, seed=0)
    executed = executed_circuit(circuit, plan, ONE_EACH)
    unitary = attrs.evolve(circuit, operations=circuit.operations[: -circuit.num_qubits])
    assert state_problems(unitary, executed) == []
    ops, steps = executed.circuit.operations, executed.steps
    drop = next(
        i
        for i, (op, step) in enumerate(zip(ops, steps, strict=True))
        if step.role == PROTOCOL and op.condition is not None and op.name == gate
    )
    broken = attrs.evolve(
        executed,
        circuit=attrs.evolve(executed.circuit, operations=ops[:drop] + ops[drop + 1 :]),
        steps=steps[:drop] + steps[drop + 1 :],
    )
    assert state_problems(unitary, broken) != []
    counts = marginal_counts(broken, 1)
    assert hellinger_fidelity(counts, exact_distribution(circuit)) < FLOOR


def test_an_op_moved_to_a_node_without_its_share_is_caught(mutant_plan):
    local = [f for f in mutant_plan.fragments if f.kind == "local" and f.ops]
    victim = next(f for f in local if any(len(op.qubits) == 2 for op in f.ops))
    other = next(n.name for n in ONE_EACH.nodes if n.name not in victim.nodes)
    moved = attrs.evolve(
        mutant_plan,
        fragments=tuple(
            attrs.evolve(f, nodes=(other,)) if f.id == victim.id else f
            for f in mutant_plan.fragments
        ),
    )
    assert any("without a share" in p for p in plan_problems(moved, ONE_EACH, MUTANT))
    with pytest.raises(ValueError, match="nor shared there"):
        executed_circuit(MUTANT, moved, ONE_EACH)


def test_the_execution_order_follows_the_records_within_the_dependencies(mutant_plan):
    plan = mutant_plan
    ids = [f.id for f in plan.fragments]
    assert execution_order(plan) == tuple(ids)
    # a fragment that started first goes first when its dependencies allow it
    last_free = [f.id for f in plan.fragments if not f.depends_on][-1]
    started = {fid: float(n) for n, fid in enumerate(ids)}
    started[last_free] = -1.0
    order = execution_order(plan, started)
    assert order[0] == last_free
    position = {fid: n for n, fid in enumerate(order)}
    assert all(position[d] < position[f.id] for f in plan.fragments for d in f.depends_on)


def test_ebit_preparations_belong_to_no_node(mutant_plan):
    executed = executed_circuit(MUTANT, mutant_plan, ONE_EACH)
    ebit_steps = [s for s in executed.steps if s.role == EBIT]
    assert ebit_steps and all(s.node is None for s in ebit_steps)
    assert len(ebit_steps) == 2 * len(executed.interactions)
