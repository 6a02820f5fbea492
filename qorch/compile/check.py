"""Invariants every plan must satisfy (FR-004, NFR-001), and its match with the circuit.

:func:`plan_problems` replays a plan fragment by fragment — in id order, which the
compiler guarantees is a topological order — tracking where every qubit lives, and
returns every violated invariant: each prepared operation in exactly one fragment; the
fragment DAG acyclic with dependencies on earlier fragments only; every operation's
qubits at its node, or shared there by an entangle fragment that serves it on a side
where the gate is diagonal; no operation acting non-diagonally on a qubit (``h``, a
measurement, the target of ``cx``) while a share of it is open; every op-DAG dependency
kept, clbit write-after-read included; capacities respected in every time slice; ebits
equal to the hops of the entangles and teleports. Contract tests run it on plans from
every installed strategy and cost model.

Given the circuit too, it proves the plan computes it (DESIGN §6):
:func:`circuit_problems` checks that every prepared operation appears once, as itself
or as a native translation of the same unitary; that the operations on each qubit keep
their order up to runs of gates diagonal on it (which commute); and, up to
:data:`EQUIVALENCE_QUBITS` qubits, that the noise-free executed circuit
(:mod:`qorch.compile.executed`) equals the input (:mod:`qorch.compile.equivalence`).
"""

from __future__ import annotations

import numpy as np
from qiskit.quantum_info import Operator

from qorch.compile.equivalence import distribution_problems, state_problems
from qorch.compile.executed import executed_circuit, execution_order
from qorch.compile.fidelity import ideal_outcomes
from qorch.compile.prepare import prepare
from qorch.gates import GATES, diagonal_on
from qorch.ir import Circuit
from qorch.plan import Fragment, Plan, PlanOp
from qorch.qiskit_bridge import standard_gate
from qorch.topology import Topology

#: the noise-free executed circuit is compared with the input up to this many qubits
EQUIVALENCE_QUBITS = 12


def plan_problems(plan: Plan, topology: Topology, circuit: Circuit | None = None) -> list[str]:
    """Every invariant ``plan`` violates (empty when the plan is sound); with ``circuit``,
    also every way it fails to compute that circuit (:func:`circuit_problems`)."""
    problems = _structure_problems(plan, topology)
    if circuit is not None:
        problems.extend(circuit_problems(plan, topology, circuit))
    return problems


def _structure_problems(plan: Plan, topology: Topology) -> list[str]:
    """The invariants of the plan alone (module docstring): fragment order, each
    operation once, capacities, and what replaying it finds."""
    problems: list[str] = []
    index = {f.id: n for n, f in enumerate(plan.fragments)}
    if [f.id for f in plan.fragments] != [f"f{n}" for n in range(len(plan.fragments))]:
        problems.append("fragment ids are not f0, f1, ... in order")
    for f in plan.fragments:
        for d in f.depends_on:
            if d not in index or index[d] >= index[f.id]:
                problems.append(f"{f.id} depends on {d}, which is not an earlier fragment")

    seen = sorted(op.index for f in plan.fragments for op in f.ops)
    if seen != list(range(plan.num_ops)):
        problems.append(f"operations not each in exactly one fragment: {seen[:20]}...")

    problems.extend(_capacity_problems(plan, topology))
    replay = _Replay(plan, problems)
    for f in plan.fragments:
        replay.fragment(f)
    if replay.shares:
        problems.append(f"shares never ended: {sorted(replay.shares)}")
    if replay.ebits != plan.ebits:
        problems.append(f"plan says {plan.ebits} ebits; its fragments consume {replay.ebits}")
    if sum(f.ebits for f in plan.fragments if f.kind == "teleport") != plan.moves:
        problems.append("moves do not match the teleport fragments")
    return problems


class _Replay:
    """Replays a plan fragment by fragment (in id order), tracking where every qubit
    lives, which shares are open, the ebits consumed and which earlier fragment each one
    must depend on; every violation found goes to ``problems``."""

    def __init__(self, plan: Plan, problems: list[str]) -> None:
        self.problems = problems
        self.home = dict(enumerate(plan.initial_placement))
        self.shares: dict[tuple[int, str], set[str]] = {}  # (qubit, node) -> fragments served
        self.ebits = 0
        self.last_fragment_of_qubit: dict[int, str] = {}
        self.last_write: dict[int, str] = {}
        self.reads_since_write: dict[int, list[str]] = {}
        self.ancestors: dict[str, set[str]] = {}

    def fragment(self, f: Fragment) -> None:
        """Replay ``f``."""
        anc: set[str] = set()
        for d in f.depends_on:
            anc |= {d} | self.ancestors.get(d, set())
        self.ancestors[f.id] = anc
        if f.kind == "teleport":
            self._teleport(f)
        elif f.kind in ("entangle", "disentangle"):
            self._share(f)
        else:
            for op in f.ops:
                self._placement(f, op)
                self._order(f, op)

    def _needs(self, f: Fragment, before: str | None, what: str) -> None:
        """``f`` must depend on ``before`` (the last fragment that touched ``what``)."""
        if before is not None and before != f.id and before not in self.ancestors[f.id]:
            self.problems.append(f"{f.id} does not depend on {before} ({what})")

    def _path_ebits(self, f: Fragment) -> None:
        """A teleport or entangle consumes one ebit per hop of its path."""
        self.ebits += f.ebits
        if f.ebits != len(f.path) - 1:
            self.problems.append(f"{f.id}: {f.ebits} ebits for a path of {len(f.path)} nodes")

    def _teleport(self, f: Fragment) -> None:
        """A teleport moves its qubit from where it is to its far node."""
        q = f.qubits[0]
        if self.home[q] != f.nodes[0]:
            self.problems.append(
                f"{f.id} moves qubit {q} from {f.nodes[0]}, but it is on {self.home[q]}"
            )
        self._needs(f, self.last_fragment_of_qubit.get(q), f"qubit {q}")
        self.home[q] = f.nodes[1]
        self.last_fragment_of_qubit[q] = f.id
        self._path_ebits(f)

    def _share(self, f: Fragment) -> None:
        """An entangle opens a share of its qubit on its far node; a disentangle ends it."""
        q = f.qubits[0]
        if self.home[q] != f.nodes[0]:
            self.problems.append(
                f"{f.id} shares qubit {q} from {f.nodes[0]}, but it is on {self.home[q]}"
            )
        if f.kind == "entangle":
            self.shares[(q, f.nodes[1])] = set(f.serves)
            self._path_ebits(f)
        else:
            self.shares.pop((q, f.nodes[1]), None)
        self._needs(f, self.last_fragment_of_qubit.get(q), f"qubit {q}")
        self.last_fragment_of_qubit[q] = f.id

    def _placement(self, f: Fragment, op: PlanOp) -> None:
        """Every qubit of ``op`` is at the fragment's node, or shared there for ``f`` on a
        side where ``op`` is diagonal; no qubit with an open share is acted on
        non-diagonally at home."""
        node = f.nodes[0]
        diag = diagonal_on(op.name) if op.name in GATES else (False,) * len(op.qubits)
        for pos, q in enumerate(op.qubits):
            if self.home[q] == node:
                open_on = sorted(n for (qq, n) in self.shares if qq == q)
                if open_on and not diag[pos]:
                    self.problems.append(
                        f"{f.id}: op {op.index} ({op.name}) acts non-diagonally on qubit "
                        f"{q} while it is shared with {', '.join(open_on)}"
                    )
                continue
            if f.id not in self.shares.get((q, node), set()):
                self.problems.append(
                    f"{f.id}: op {op.index} ({op.name}) uses qubit {q} on "
                    f"{self.home[q]} without a share to {node}"
                )
            elif not diag[pos]:
                self.problems.append(
                    f"{f.id}: op {op.index} ({op.name}) is not diagonal on shared qubit {q}"
                )

    def _order(self, f: Fragment, op: PlanOp) -> None:
        """``f`` depends on the fragments before it on ``op``'s qubits and clbits (reads
        after writes, and writes after reads)."""
        for q in op.qubits:
            self._needs(f, self.last_fragment_of_qubit.get(q), f"qubit {q}")
            self.last_fragment_of_qubit[q] = f.id
        reads = op.condition["clbits"] if op.condition else []
        for c in [*reads, *op.clbits]:
            self._needs(f, self.last_write.get(c), f"clbit {c}")
        for c in op.clbits:
            for reader in self.reads_since_write.get(c, []):
                self._needs(f, reader, f"clbit {c} is read there before this write")
            self.last_write[c] = f.id
            self.reads_since_write[c] = []
        for c in reads:
            self.reads_since_write.setdefault(c, []).append(f.id)


def _capacity_problems(plan: Plan, topology: Topology) -> list[str]:
    """Capacities respected at the start and after every time slice's teleports."""
    problems: list[str] = []
    capacity = {n.name: n.qubits for n in topology.nodes}
    home = dict(enumerate(plan.initial_placement))

    for node, cap in capacity.items():
        load = sum(1 for n in home.values() if n == node)
        if load > cap:
            problems.append(f"initially: node {node} holds {load} qubits, capacity {cap}")
    # the teleports of one time slice happen together: check capacity per slice
    slices: dict[int, list] = {}
    for f in plan.fragments:
        if f.kind == "teleport":
            slices.setdefault(f.slice, []).append(f)
    after_slice = dict(home)
    for s in sorted(slices):
        for f in slices[s]:
            after_slice[f.qubits[0]] = f.nodes[1]
        for node, cap in capacity.items():
            load = sum(1 for n in after_slice.values() if n == node)
            if load > cap:
                problems.append(f"slice {s}: node {node} holds {load} qubits, capacity {cap}")
    return problems


def circuit_problems(plan: Plan, topology: Topology, circuit: Circuit) -> list[str]:
    """Every way ``plan`` fails to compute ``circuit`` (module docstring)."""

    prepared = prepare(circuit)
    problems = _operation_problems(plan, prepared.ops)
    problems.extend(_order_problems(plan, prepared.ops))
    if problems or circuit.num_qubits > EQUIVALENCE_QUBITS:
        return problems

    try:
        executed = executed_circuit(circuit, plan, topology)
    except ValueError as exc:
        return [f"the plan cannot be executed: {exc}"]
    if ideal_outcomes(circuit, EQUIVALENCE_QUBITS) is not None:
        return state_problems(circuit, executed, plan.seed)
    return distribution_problems(circuit, executed) or []


def _operation_problems(plan: Plan, ops: tuple) -> list[str]:
    """Each plan operation is the prepared operation of its index (or its translation)."""
    problems: list[str] = []
    for f in plan.fragments:
        for op in f.ops:
            if not 0 <= op.index < len(ops):
                problems.append(f"{f.id}: op {op.index} is not an operation of the circuit")
                continue
            want = ops[op.index]
            cond = None
            if want.condition is not None:
                cond = {"clbits": list(want.condition.clbits), "value": want.condition.value}
            got = (op.name, tuple(op.qubits), tuple(op.clbits), op.condition)
            if got != (want.name, want.qubits, want.clbits, cond) or not _close(
                op.params, want.params
            ):
                problems.append(
                    f"{f.id}: op {op.index} is {op.name}{list(op.params)} on {list(op.qubits)}, "
                    f"the circuit's is {want.name}{list(want.params)} on {list(want.qubits)}"
                )
            elif op.native and not _same_unitary(op.name, op.qubits, op.params, op.native):
                problems.append(f"{f.id}: op {op.index}'s native gates are not {op.name}")
    return problems


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1e-9 for x, y in zip(a, b, strict=True))


def _same_unitary(name: str, qubits: tuple[int, ...], params: tuple, native: tuple) -> bool:
    """Whether the ``native`` gates multiply to gate ``name`` up to global phase."""

    local = {q: i for i, q in enumerate(qubits)}
    if any(q not in local for g in native for q in g["qubits"]):
        return False
    total = Operator(np.eye(2 ** len(qubits)))
    for g in native:
        gate = standard_gate(g["name"], g.get("params", ()))
        total = total.compose(Operator(gate), qargs=[local[q] for q in g["qubits"]])
    want = Operator(standard_gate(name, params))
    overlap = abs(np.trace(want.data.conj().T @ total.data)) / 2 ** len(qubits)
    return bool(overlap > 1 - 1e-9)


def _order_problems(plan: Plan, ops: tuple) -> list[str]:
    """Per qubit, operations in circuit order up to runs of gates diagonal on it."""

    try:
        order = execution_order(plan)
    except ValueError as exc:
        return [str(exc)]
    block: dict[tuple[int, int], int] = {}  # (qubit, op index) -> block number
    count: dict[int, int] = {}
    last_diagonal: dict[int, bool] = {}
    for i, op in enumerate(ops):
        diag = diagonal_on(op.name) if op.name in GATES else (False,) * len(op.qubits)
        for pos, q in enumerate(op.qubits):
            if not (diag[pos] and last_diagonal.get(q, False)):
                count[q] = count.get(q, 0) + 1
            last_diagonal[q] = diag[pos]
            block[(q, i)] = count[q]
    problems: list[str] = []
    reached: dict[int, tuple[int, int]] = {}  # qubit -> (block, op index) last seen
    for fid in order:
        for op in plan.fragment(fid).ops:
            for q in op.qubits:
                b = block.get((q, op.index))
                if b is None:
                    continue
                seen = reached.get(q)
                if seen is not None and b < seen[0]:
                    problems.append(
                        f"{fid}: op {op.index} on qubit {q} runs after op {seen[1]}, "
                        "which the circuit has later and which does not commute with it"
                    )
                reached[q] = max(seen or (0, -1), (b, op.index))
    return problems
