"""Invariants every plan must satisfy (FR-004, NFR-001), as a reusable checker.

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
"""

from __future__ import annotations

from qorch.compile.plan import Plan
from qorch.gates import GATES, diagonal_on
from qorch.topology import Topology


def plan_problems(plan: Plan, topology: Topology) -> list[str]:
    """Every invariant ``plan`` violates (empty when the plan is sound)."""
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
    shares: dict[tuple[int, str], set[str]] = {}  # (qubit, node) -> fragments served
    ebits = 0
    last_fragment_of_qubit: dict[int, str] = {}
    last_write: dict[int, str] = {}
    reads_since_write: dict[int, list[str]] = {}
    ancestors: dict[str, set[str]] = {}
    for f in plan.fragments:
        anc: set[str] = set()
        for d in f.depends_on:
            anc |= {d} | ancestors.get(d, set())
        ancestors[f.id] = anc

        def needs(before: str | None, what: str) -> None:
            if before is not None and before != f.id and before not in anc:  # noqa: B023
                problems.append(f"{f.id} does not depend on {before} ({what})")  # noqa: B023

        if f.kind == "teleport":
            q = f.qubits[0]
            if home[q] != f.nodes[0]:
                problems.append(f"{f.id} moves qubit {q} from {f.nodes[0]}, but it is on {home[q]}")
            needs(last_fragment_of_qubit.get(q), f"qubit {q}")
            home[q] = f.nodes[1]
            last_fragment_of_qubit[q] = f.id
            ebits += f.ebits
            if f.ebits != len(f.path) - 1:
                problems.append(f"{f.id}: {f.ebits} ebits for a path of {len(f.path)} nodes")
            continue
        if f.kind in ("entangle", "disentangle"):
            q = f.qubits[0]
            if home[q] != f.nodes[0]:
                problems.append(
                    f"{f.id} shares qubit {q} from {f.nodes[0]}, but it is on {home[q]}"
                )
            if f.kind == "entangle":
                shares[(q, f.nodes[1])] = set(f.serves)
                ebits += f.ebits
                if f.ebits != len(f.path) - 1:
                    problems.append(f"{f.id}: {f.ebits} ebits for a path of {len(f.path)} nodes")
            else:
                shares.pop((q, f.nodes[1]), None)
            needs(last_fragment_of_qubit.get(q), f"qubit {q}")
            last_fragment_of_qubit[q] = f.id
            continue
        node = f.nodes[0]
        for op in f.ops:
            diag = diagonal_on(op.name) if op.name in GATES else (False,) * len(op.qubits)
            for pos, q in enumerate(op.qubits):
                if home[q] == node:
                    open_on = sorted(n for (qq, n) in shares if qq == q)
                    if open_on and not diag[pos]:
                        problems.append(
                            f"{f.id}: op {op.index} ({op.name}) acts non-diagonally on qubit "
                            f"{q} while it is shared with {', '.join(open_on)}"
                        )
                    continue
                if f.id not in shares.get((q, node), set()):
                    problems.append(
                        f"{f.id}: op {op.index} ({op.name}) uses qubit {q} on "
                        f"{home[q]} without a share to {node}"
                    )
                elif not diag[pos]:
                    problems.append(
                        f"{f.id}: op {op.index} ({op.name}) is not diagonal on shared qubit {q}"
                    )
            for q in op.qubits:
                needs(last_fragment_of_qubit.get(q), f"qubit {q}")
                last_fragment_of_qubit[q] = f.id
            reads = op.condition["clbits"] if op.condition else []
            for c in [*reads, *op.clbits]:
                needs(last_write.get(c), f"clbit {c}")
            for c in op.clbits:
                for reader in reads_since_write.get(c, []):
                    needs(reader, f"clbit {c} is read there before this write")
                last_write[c] = f.id
                reads_since_write[c] = []
            for c in reads:
                reads_since_write.setdefault(c, []).append(f.id)
    if shares:
        problems.append(f"shares never ended: {sorted(shares)}")
    if ebits != plan.ebits:
        problems.append(f"plan says {plan.ebits} ebits; its fragments consume {ebits}")
    if sum(f.ebits for f in plan.fragments if f.kind == "teleport") != plan.moves:
        problems.append("moves do not match the teleport fragments")
    return problems
