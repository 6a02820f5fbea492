"""Generated benchmark circuits and topologies (seeded, dependency-free, deterministic).

QFT, GHZ, QAOA on a random 3-regular graph, and random circuits of one- and two-qubit
gates — the families the DISQCO and pytket-dqc papers report on — plus uniform
all-to-all networks of identical QPUs.
"""

from __future__ import annotations

import math
import random

from qorch.ir import Circuit, Operation, Register
from qorch.topology import Topology, topology_from_dict


def _measured(n: int, ops: list[Operation]) -> Circuit:
    ops = ops + [Operation("measure", [i], [i]) for i in range(n)]
    return Circuit([Register("q", n)], [Register("c", n)], ops)


def qft(n: int) -> Circuit:
    """The textbook QFT (Hadamard, then controlled phases), without final swaps, measured."""
    ops = []
    for i in range(n):
        ops.append(Operation("h", [i]))
        ops.extend(
            Operation("cp", [j, i], params=[math.pi / 2 ** (j - i)]) for j in range(i + 1, n)
        )
    return _measured(n, ops)


def qft_cx(n: int) -> Circuit:
    """QFT with every controlled phase written as two ``cx`` and three phase gates.

    Each ``cx`` acts non-diagonally on its target, ending that qubit's run — how QFT
    looks after a transpiler has lowered ``cp``; shares serve fewer gates.
    """
    ops = []
    for op in qft(n).operations:
        if op.name != "cp":
            ops.append(op)
            continue
        (a, b), (theta,) = op.qubits, op.params
        ops += [
            Operation("p", [a], params=[theta / 2]),
            Operation("cx", [a, b]),
            Operation("p", [b], params=[-theta / 2]),
            Operation("cx", [a, b]),
            Operation("p", [b], params=[theta / 2]),
        ]
    return Circuit([Register("q", n)], [Register("c", n)], ops)


def ghz(n: int) -> Circuit:
    """GHZ state preparation by a CNOT chain, measured."""
    return _measured(n, [Operation("h", [0])] + [Operation("cx", [i, i + 1]) for i in range(n - 1)])


def regular_graph(n: int, degree: int, seed: int) -> list[tuple[int, int]]:
    """A random ``degree``-regular simple graph (pairing model, retried until simple)."""
    rng = random.Random(seed)
    if n * degree % 2:
        raise ValueError("n * degree must be even")
    for _ in range(1000):
        stubs = [v for v in range(n) for _ in range(degree)]
        rng.shuffle(stubs)
        edges = {(min(a, b), max(a, b)) for a, b in zip(stubs[::2], stubs[1::2], strict=True)}
        if len(edges) == n * degree // 2 and all(a != b for a, b in edges):
            return sorted(edges)
    raise ValueError("no simple regular graph found")


def qaoa(n: int, layers: int = 1, seed: int = 0) -> Circuit:
    """QAOA for MaxCut on a random 3-regular graph: ``rzz`` cost layers, ``rx`` mixers."""
    rng = random.Random(seed)
    edges = regular_graph(n, 3, seed)
    ops = [Operation("h", [i]) for i in range(n)]
    for _ in range(layers):
        gamma, beta = rng.uniform(0, math.pi), rng.uniform(0, math.pi)
        ops += [Operation("rzz", [a, b], params=[gamma]) for a, b in edges]
        ops += [Operation("rx", [i], params=[2 * beta]) for i in range(n)]
    return _measured(n, ops)


def random_circuit(n: int, num_ops: int, seed: int = 0) -> Circuit:
    """``num_ops`` random gates (2/3 of them two-qubit), then measurements."""
    rng = random.Random(seed)
    ops = []
    for _ in range(num_ops):
        if rng.random() < 2 / 3 and n > 1:
            a, b = rng.sample(range(n), 2)
            name = rng.choice(["cx", "cz", "cp"])
            ops.append(Operation(name, [a, b], params=[rng.uniform(0, 6)] if name == "cp" else []))
        else:
            name = rng.choice(["h", "x", "rz", "sx"])
            ops.append(
                Operation(
                    name, [rng.randrange(n)], params=[rng.uniform(0, 6)] if name == "rz" else []
                )
            )
    return _measured(n, ops)


GATES = {
    "h": 0.999,
    "x": 0.9995,
    "sx": 0.9995,
    "rz": 1.0,
    "rx": 0.9995,
    "cx": 0.99,
    "cz": 0.99,
    "cp": 0.99,
    "rzz": 0.99,
    "measure": 0.98,
}


def uniform(k: int, capacity: int, all_to_all: bool = True) -> Topology:
    """``k`` identical QPUs of ``capacity`` qubits, all-to-all or in a line."""
    data: dict = {
        "nodes": [{"name": f"n{i}", "qubits": capacity, "gates": GATES} for i in range(k)]
    }
    if all_to_all:
        data["network"] = {"all_to_all": True, "link_fidelity": 0.97, "link_latency_ms": 1.0}
    else:
        data["links"] = [
            {"a": f"n{i}", "b": f"n{i + 1}", "fidelity": 0.97, "latency_ms": 1.0}
            for i in range(k - 1)
        ]
    return topology_from_dict(data)
