"""The executed circuit (DESIGN §6, FR-004, FR-006): a plan as the nodes ran it.

:func:`executed_circuit` turns a :class:`~qorch.plan.Plan` into the circuit the
network actually performed — never the input circuit — as an IR
:class:`~qorch.ir.Circuit` with the explicit protocols of ``../shared/notes/protocols.md``:

* each local fragment's operations as sent to its node (its native gates), on the
  physical qubit that holds each circuit qubit at that moment — a qubit shared to the
  node is replaced by the share's half there;
* ``entangle`` (cat-entangle ``q`` from A to B): an ebit ``a`` (on A), ``b`` (on B)
  prepared over the link path (``h a; cx a, b``), ``cx q, a``, ``a`` measured into the
  interaction's register, ``x b`` if it read 1, ``a`` reset;
* ``disentangle``: ``h b``, ``b`` measured, ``z q`` at home if it read 1, ``b`` reset;
* ``teleport`` (move ``q`` from A to B): an ebit ``a``, ``b``; ``cx q, a; h q``; ``q``
  and ``a`` measured; ``x b`` and ``z b`` by the two bits; ``q`` and ``a`` reset; the
  circuit qubit lives on ``b`` from then on.

Fragments are laid out in the execution order given (the runtime passes an order
consistent with the nodes' execution records), else in plan order — fragment ids are a
topological order. Protocol qubits are *ancillas* (register ``anc``), allocated per node
and reused once reset; a node's ``qubits`` capacity counts data qubits only. Each
interaction's classical bits are a register ``ebit<k>`` (renamed if the input uses the
name); the input's classical registers keep their names and come first, so counts over
them are the input's. Every operation carries a :class:`Step`: the node and fragment it
ran in, its role and its start within the fragment (the node's critical path), which
the world simulator (:mod:`qorch.runtime.world`) reads for noise and idle time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from qorch.compile.native import NodeGates
from qorch.ir import Circuit, Condition, Operation, Register
from qorch.plan import Fragment, Plan
from qorch.topology import Topology

#: the role of an operation: a fragment's own, the ebit's preparation, or its protocol
OP, EBIT, PROTOCOL = "op", "ebit", "protocol"
EBIT_PREFIX = "ebit"


@attrs.frozen
class Step:
    """Where one operation of the executed circuit ran.

    ``node`` is ``None`` for the ebit's preparation (made by the link path, not a node's
    gate); ``interaction`` indexes :attr:`ExecutedCircuit.interactions` for ebit and
    protocol operations (-1 otherwise); ``offset_ns`` is its start after its fragment's.
    """

    node: str | None
    fragment: str
    role: str
    interaction: int = -1
    offset_ns: float = 0.0
    duration_ns: float = 0.0


@attrs.frozen
class Interaction:
    """One remote interaction: its kind, qubit, ends, path and ebit halves.

    ``home``/``remote`` are the physical qubits of the ebit on ``nodes[0]``/``nodes[1]``;
    ``source`` is the physical qubit that held ``qubit`` when it started; ``clbits``
    the interaction's register (global clbit indices).
    """

    kind: str
    fragment: str
    qubit: int
    nodes: tuple[str, str]
    path: tuple[str, ...]
    source: int
    home: int
    remote: int
    clbits: tuple[int, ...]


@attrs.frozen
class ExecutedCircuit:
    """The circuit the network ran, explicit protocols included (module docstring).

    ``circuit`` has the input's quantum registers then ``anc`` (``num_ancillas``), the
    input's classical registers then one ``ebit<k>`` register per interaction.
    ``steps[i]`` describes ``circuit.operations[i]``. ``final`` is the physical qubit of
    each circuit qubit at the end; ``num_input_clbits`` the input's classical bits;
    ``initial_nodes`` the node of each circuit qubit at the start.
    """

    circuit: Circuit
    steps: tuple[Step, ...]
    interactions: tuple[Interaction, ...]
    num_data: int
    num_ancillas: int
    num_input_clbits: int
    final: tuple[int, ...]
    initial_nodes: tuple[str, ...] = ()


def execution_order(plan: Plan, started: dict[str, float] | None = None) -> tuple[str, ...]:
    """The fragments in an order that respects their dependencies and, among those
    ready, follows ``started`` (fragment id → start time, from the execution records);
    without it, plan order."""
    started = started or {}
    rank = {f.id: n for n, f in enumerate(plan.fragments)}
    waiting = {f.id: set(f.depends_on) for f in plan.fragments}
    done: list[str] = []
    while waiting:
        ready = [fid for fid, deps in waiting.items() if not deps]
        if not ready:
            raise ValueError(f"the fragment DAG has a cycle among {sorted(waiting)}")
        fid = min(ready, key=lambda x: (started.get(x, float("inf")), rank[x]))
        done.append(fid)
        del waiting[fid]
        for deps in waiting.values():
            deps.discard(fid)
    return tuple(done)


def executed_circuit(
    circuit: Circuit,
    plan: Plan,
    topology: Topology | None = None,
    order: Sequence[str] | None = None,
) -> ExecutedCircuit:
    """The executed circuit of ``plan`` for ``circuit`` (module docstring).

    ``topology`` gives gate durations for each step's offset (0 without it); ``order``
    is the fragment order (:func:`execution_order`). Raises ``ValueError`` when the plan
    cannot be laid out (an operation on a qubit that is neither at its node nor shared
    there): :func:`qorch.compile.check.plan_problems` names such faults one by one.
    """
    builder = _Builder(circuit, plan, topology)
    for fid in order or [f.id for f in plan.fragments]:
        builder.fragment(plan.fragment(fid))
    return builder.finish()


class _Builder:
    """Lays the fragments out one by one, tracking where every circuit qubit lives."""

    def __init__(self, circuit: Circuit, plan: Plan, topology: Topology | None) -> None:
        self.circuit, self.plan = circuit, plan
        self.gates = {n.name: NodeGates(n) for n in topology.nodes} if topology else {}
        n = circuit.num_qubits
        self.slot = list(range(n))  # circuit qubit -> physical qubit
        self.node_of_slot: dict[int, str] = dict(enumerate(plan.initial_placement))
        self.free: dict[str, list[int]] = {}  # node -> reset ancillas, lowest first
        self.num_slots = n
        self.shares: dict[tuple[int, str], int] = {}  # (qubit, node) -> its half there
        self.share_of: dict[tuple[int, str], int] = {}  # (qubit, node) -> interaction
        self.ops: list[Operation] = []
        self.steps: list[Step] = []
        self.interactions: list[Interaction] = []
        self.cregs = list(circuit.cregs)
        self.num_clbits = circuit.num_clbits
        self.taken = {r.name for r in (*circuit.qregs, *circuit.cregs)}
        self.ready: dict[int, float] = {}  # physical qubit -> end of its last op (ns)
        self.current = ""

    # -- qubits and registers ---------------------------------------------------------

    def allocate(self, node: str) -> int:
        """A reset ancilla on ``node`` (a new one when none is free)."""
        free = self.free.get(node)
        if free:
            return free.pop(0)
        slot = self.num_slots
        self.num_slots += 1
        self.node_of_slot[slot] = node
        return slot

    def release(self, slot: int, node: str, fragment: Fragment, interaction: int) -> None:
        """Reset ``slot`` and give it back to ``node``'s pool."""
        self.emit("reset", (slot,), node=node, role=PROTOCOL, interaction=interaction)
        self.node_of_slot[slot] = node
        self.free.setdefault(node, []).append(slot)
        self.free[node].sort()

    def register(self, size: int) -> tuple[int, ...]:
        """A new ``ebit<k>`` register of ``size`` bits; its global clbit indices."""
        k = len(self.interactions)
        name = f"{EBIT_PREFIX}{k}"
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        self.cregs.append(Register(name, size))
        start = self.num_clbits
        self.num_clbits += size
        return tuple(range(start, start + size))

    # -- operations -------------------------------------------------------------------

    def emit(
        self,
        name: str,
        qubits: tuple[int, ...],
        *,
        node: str | None,
        role: str,
        clbits: tuple[int, ...] = (),
        params: tuple[float, ...] = (),
        condition: Condition | None = None,
        interaction: int = -1,
    ) -> None:
        """Append one operation and its step (offset by the qubits' critical path)."""
        duration = 0.0
        if node is not None and node in self.gates:
            cost = self.gates[node].cost(name)
            duration = cost[1] if cost is not None else 0.0
        start = max((self.ready.get(q, 0.0) for q in qubits), default=0.0)
        for q in qubits:
            self.ready[q] = start + duration
        self.ops.append(Operation(name, qubits, clbits, params, condition))
        self.steps.append(Step(node, self.current, role, interaction, start, duration))

    def fragment(self, f: Fragment) -> None:
        """Lay out fragment ``f``."""
        self.current = f.id
        self.ready = {}
        if f.kind == "local":
            self.local(f)
        elif f.kind == "entangle":
            self.entangle(f)
        elif f.kind == "disentangle":
            self.disentangle(f)
        elif f.kind == "teleport":
            self.teleport(f)
        else:
            raise ValueError(f"{f.id}: unknown fragment kind {f.kind!r}")

    def physical(self, qubit: int, node: str, f: Fragment) -> int:
        """The physical qubit that stands for ``qubit`` on ``node``."""
        if self.node_of_slot[self.slot[qubit]] == node:
            return self.slot[qubit]
        half = self.shares.get((qubit, node))
        if half is None:
            raise ValueError(
                f"{f.id}: qubit {qubit} is on {self.node_of_slot[self.slot[qubit]]}, "
                f"not on {node} nor shared there"
            )
        return half

    def local(self, f: Fragment) -> None:
        node = f.node
        for op in f.ops:
            condition = self.condition(op.condition)
            gates: Iterable[dict[str, Any]] = op.native or (
                {"name": op.name, "qubits": op.qubits, "params": op.params},
            )
            for g in gates:
                qubits = tuple(self.physical(q, node, f) for q in g["qubits"])
                self.emit(
                    g["name"],
                    qubits,
                    node=node,
                    role=OP,
                    clbits=op.clbits if g["name"] == "measure" else (),
                    params=tuple(float(p) for p in g.get("params", ())),
                    condition=condition,
                )

    def condition(self, cond: dict[str, Any] | None) -> Condition | None:
        """The IR condition of a plan operation's ``{"clbits", "value"}``."""
        if cond is None:
            return None
        clbits = tuple(cond["clbits"])
        if len(clbits) == 1:
            return Condition(clbits, int(cond["value"]))
        start = 0
        for reg in self.circuit.cregs:
            if clbits == tuple(range(start, start + reg.size)):
                return Condition(clbits, int(cond["value"]), reg.name)
            start += reg.size
        raise ValueError(f"a condition on clbits {list(clbits)} matches no register")

    def ebit(self, f: Fragment, kind: str, size: int) -> tuple[int, Interaction]:
        """Prepare the ebit of interaction ``f`` over its path; record the interaction."""
        src, dest = f.nodes
        q = f.qubits[0]
        source = self.slot[q]
        if self.node_of_slot[source] != src:
            raise ValueError(f"{f.id}: qubit {q} is on {self.node_of_slot[source]}, not {src}")
        a, b = self.allocate(src), self.allocate(dest)
        k = len(self.interactions)
        inter = Interaction(kind, f.id, q, (src, dest), f.path, source, a, b, self.register(size))
        self.interactions.append(inter)
        self.emit("h", (a,), node=None, role=EBIT, interaction=k)
        self.emit("cx", (a, b), node=None, role=EBIT, interaction=k)
        return k, inter

    def entangle(self, f: Fragment) -> None:
        src, dest = f.nodes
        k, it = self.ebit(f, "entangle", 2)
        q, a, b, m = it.source, it.home, it.remote, it.clbits
        self.emit("cx", (q, a), node=src, role=PROTOCOL, interaction=k)
        self.emit("measure", (a,), node=src, role=PROTOCOL, clbits=(m[0],), interaction=k)
        fix = Condition((m[0],), 1)
        self.emit("x", (b,), node=dest, role=PROTOCOL, condition=fix, interaction=k)
        self.release(a, src, f, k)
        self.shares[(it.qubit, dest)] = b
        self.share_of[(it.qubit, dest)] = k

    def disentangle(self, f: Fragment) -> None:
        src, dest = f.nodes
        key = (f.qubits[0], dest)
        if key not in self.shares:
            raise ValueError(f"{f.id}: qubit {f.qubits[0]} is not shared with {dest}")
        b, k = self.shares.pop(key), self.share_of.pop(key)
        m = self.interactions[k].clbits
        q = self.slot[f.qubits[0]]
        self.emit("h", (b,), node=dest, role=PROTOCOL, interaction=k)
        self.emit("measure", (b,), node=dest, role=PROTOCOL, clbits=(m[1],), interaction=k)
        fix = Condition((m[1],), 1)
        self.emit("z", (q,), node=src, role=PROTOCOL, condition=fix, interaction=k)
        self.release(b, dest, f, k)

    def teleport(self, f: Fragment) -> None:
        src, dest = f.nodes
        k, it = self.ebit(f, "teleport", 2)
        q, a, b, m = it.source, it.home, it.remote, it.clbits
        self.emit("cx", (q, a), node=src, role=PROTOCOL, interaction=k)
        self.emit("h", (q,), node=src, role=PROTOCOL, interaction=k)
        self.emit("measure", (q,), node=src, role=PROTOCOL, clbits=(m[0],), interaction=k)
        self.emit("measure", (a,), node=src, role=PROTOCOL, clbits=(m[1],), interaction=k)
        for gate, bit in (("x", m[1]), ("z", m[0])):
            fix = Condition((bit,), 1)
            self.emit(gate, (b,), node=dest, role=PROTOCOL, condition=fix, interaction=k)
        self.release(q, src, f, k)
        self.release(a, src, f, k)
        self.slot[it.qubit] = b

    def finish(self) -> ExecutedCircuit:
        """The circuit laid out so far."""
        if self.shares:
            raise ValueError(f"shares never ended: {sorted(self.shares)}")
        n = self.circuit.num_qubits
        ancillas = self.num_slots - n
        anc = "anc"
        while anc in self.taken:
            anc += "_"
        qregs = (*self.circuit.qregs, *((Register(anc, ancillas),) if ancillas else ()))
        executed = Circuit(qregs, tuple(self.cregs), tuple(self.ops), self.circuit.name)
        return ExecutedCircuit(
            executed,
            tuple(self.steps),
            tuple(self.interactions),
            n,
            ancillas,
            self.circuit.num_clbits,
            tuple(self.slot),
            tuple(self.plan.initial_placement),
        )
