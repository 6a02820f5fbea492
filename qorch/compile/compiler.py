"""The compiler pipeline (FR-004, FR-008, NFR-001): Circuit + snapshot + config + seed → Plan.

1. :func:`~qorch.compile.prepare.prepare` the circuit (decompose what cannot be shared).
2. Keep usable nodes and links (available, not degraded, at the job's ``min_fidelity``)
   and work out, per qubit, the nodes that can run all its gates at that fidelity.
3. Check feasibility; if there is no plan, say exactly what is missing.
4. The configured placement strategy places qubits, guided by the configured cost model.
5. :func:`~qorch.compile.distribute.distribute` the placement (cheapest shares and
   teleports), :func:`~qorch.compile.fragments.build_fragments`, translate each fragment
   to its node's native gates, estimate fidelity and durations, and cost it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from qorch.compile.distribute import Distribution, Move, Share, distribute
from qorch.compile.fidelity import OUTPUT_DISTRIBUTION, predicted_fidelity
from qorch.compile.fragments import LOCAL, TELEPORT, FragmentSpec, build_fragments
from qorch.compile.native import NodeGates
from qorch.compile.prepare import Prepared, prepare
from qorch.compile.strategy import Objective, feasible_assignment
from qorch.errors import PluginError, QorchError
from qorch.interfaces import CostModel, CostTerms, Plugins
from qorch.ir import Circuit, Operation
from qorch.network import UNREACHABLE, Network
from qorch.placement import Placement
from qorch.plan import PLAN_VERSION, Fragment, Plan, PlanOp
from qorch.problem import PlacementProblem
from qorch.topology import Topology


class InfeasibleError(QorchError):
    """No plan exists (FR-004): names the missing capability, fidelity, capacity or link."""

    kind = "infeasible"

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "infeasible", "message", "details"}``."""
        return {"kind": self.kind, "message": str(self), "details": self.details}


@attrs.frozen
class Realized:
    """A placement made concrete: distribution, fragments, per-fragment estimates, terms."""

    placement: Placement
    distribution: Distribution
    fragments: tuple[FragmentSpec, ...]
    durations_ms: tuple[float, ...]
    fidelities: tuple[float, ...]
    terms: CostTerms


class Compilation:
    """One compile job's context: the problem and how to realise and cost placements."""

    def __init__(
        self,
        circuit: Circuit,
        topology: Topology,
        min_fidelity: float,
        keep: Mapping[int, Collection[str]] | None = None,
    ) -> None:
        self.circuit = circuit
        self.topology = topology
        self.min_fidelity = min_fidelity
        self.prepared: Prepared = prepare(circuit)
        self.network = Network(topology, min_link_fidelity=min_fidelity)
        self.gates = [NodeGates(n) for n in self.network.nodes]
        gate_logf = [self._logf_table(g) for g in self.gates]
        self.names_of_qubit = self._gate_names_per_qubit()
        eligible = [
            [j for j in range(len(self.gates)) if all(n in gate_logf[j] for n in names)]
            for names in self.names_of_qubit
        ]
        for q, nodes in (keep or {}).items():  # a fallback keeps these qubits where they were
            kept = [j for j in eligible[q] if self.network.names[j] in nodes]
            eligible[q] = kept or eligible[q]  # none of its nodes is usable now: place it anew
        self._check_feasible(eligible)
        self.problem = PlacementProblem(
            self.prepared.ops, circuit.num_qubits, self.network, gate_logf, eligible
        )

    # -- feasibility -------------------------------------------------------------------

    def _logf_table(self, gates: NodeGates) -> dict[str, float]:
        table = {}
        for name in sorted({op.name for op in self.prepared.ops}):
            cost = gates.cost(name)
            if cost is not None and math.exp(cost[0]) >= self.min_fidelity - 1e-12:
                table[name] = cost[0]
        return table

    def _gate_names_per_qubit(self) -> list[set[str]]:
        names: list[set[str]] = [set() for _ in range(self.circuit.num_qubits)]
        for op in self.prepared.ops:
            for q in op.qubits:
                names[q].add(op.name)
        return names

    def _offers(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in self.topology.nodes:
            if not node.usable:
                out[node.name] = "unavailable" if not node.available else "degraded"
                continue
            fid = NodeGates(node).fidelity(name)
            native = name in node.gates
            out[node.name] = (
                "not offered" if fid == 0 else f"{fid:.4g}" + ("" if native else " (translated)")
            )
        return out

    def _check_feasible(self, eligible: list[list[int]]) -> None:
        n = self.circuit.num_qubits
        if not self.network.nodes:
            states = {
                nd.name: ("unavailable" if not nd.available else "degraded")
                for nd in self.topology.nodes
            }
            raise InfeasibleError(
                "no usable node: every node is unavailable or degraded", {"nodes": states}
            )
        for q, nodes in enumerate(eligible):
            if nodes:
                continue
            reg, i = self.circuit.register_of_qubit(q)
            for name in sorted(self.names_of_qubit[q]):
                if not any(name in self._logf_table(g) for g in self.gates):
                    raise InfeasibleError(
                        f"no usable node runs gate '{name}' (needed by qubit {reg}[{i}]) at "
                        f"fidelity >= {self.min_fidelity:g}; nodes offer: "
                        + ", ".join(f"{k}: {v}" for k, v in self._offers(name).items()),
                        {
                            "gate": name,
                            "qubit": f"{reg}[{i}]",
                            "min_fidelity": self.min_fidelity,
                            "offers": self._offers(name),
                        },
                    )
            raise InfeasibleError(
                f"no single usable node runs all of {sorted(self.names_of_qubit[q])} needed by "
                f"qubit {reg}[{i}] at fidelity >= {self.min_fidelity:g}",
                {
                    "qubit": f"{reg}[{i}]",
                    "gates": sorted(self.names_of_qubit[q]),
                    "offers": {g: self._offers(g) for g in sorted(self.names_of_qubit[q])},
                },
            )
        capacity = {nd.name: nd.qubits for nd in self.network.nodes}
        if n > sum(capacity.values()):
            raise InfeasibleError(
                f"the circuit needs {n} qubits but the usable nodes hold "
                f"{sum(capacity.values())} ({', '.join(f'{k}: {v}' for k, v in capacity.items())})",
                {"qubits": n, "capacity": capacity},
            )

    # -- realising and costing placements -------------------------------------------------

    def realize(self, placement: Placement) -> Realized:
        """Distribute, fragment and estimate ``placement``."""
        dist = distribute(self.problem, placement)
        if not dist.reachable:
            missing = sum(x.hops >= UNREACHABLE for x in dist.remotes)
            terms = CostTerms(0.0, 1.0, 0, 0, unreachable=missing)
            return Realized(placement, dist, (), (), (), terms)
        frags = tuple(build_fragments(self.problem, dist))
        ops = self.problem.ops
        durations, fidelities, logf_total = [], [], 0.0
        for frag in frags:
            if frag.kind == LOCAL:
                node = self.gates[frag.nodes[0]]
                ready: dict[int, float] = {}
                logf, end = 0.0, 0.0
                for el in frag.elements:
                    op = ops[el.op]
                    cost = node.cost(op.name)
                    assert cost is not None  # its qubits are on nodes that can run its gates
                    lf, dur = cost
                    logf += lf
                    start = max((ready.get(q, 0.0) for q in op.qubits), default=0.0)
                    for q in op.qubits:
                        ready[q] = start + dur
                    end = max(end, start + dur)
                durations.append(end / 1e6)
                fidelities.append(math.exp(logf))
                logf_total += logf
            else:
                a, b = frag.nodes
                f = self.network.path_fidelity(a, b)
                durations.append(self.network.path_latency_ms(a, b))
                fidelities.append(f if frag.kind != "disentangle" else 1.0)
                if frag.kind != "disentangle":
                    logf_total += math.log(f)
        finish = [0.0] * len(frags)
        for frag in frags:
            start = 0.0
            for d in frag.depends_on:
                gap = 0.0
                dep = frags[d]
                if dep.kind == LOCAL and frag.kind == LOCAL and dep.nodes != frag.nodes:
                    gap = self.network.path_latency_ms(dep.nodes[0], frag.nodes[0])
                start = max(start, finish[d] + gap)
            finish[frag.index] = start + durations[frag.index]
        moves = sum(m.hops for m in dist.moves)
        terms = CostTerms(
            latency_ms=max(finish, default=0.0),
            fidelity_risk=1.0 - math.exp(logf_total),
            ebits=dist.ebits,
            moves=moves,
        )
        return Realized(placement, dist, frags, tuple(durations), tuple(fidelities), terms)

    def objective(self, model: CostModel) -> Objective:
        """An :class:`Objective` for ``model`` over this problem's placements."""
        links = list({lk.key: lk for lk in self.network.links.values()}.values())
        link_logf = sum(math.log(lk.fidelity) for lk in links) / len(links) if links else 0.0
        latency = sum(lk.latency_ms for lk in links) / len(links) if links else 0.0
        return Objective(model, lambda p: self.realize(p).terms, link_logf, latency)

    def check_placement(self, placement: Placement, strategy: str) -> None:
        """A strategy's result must fit capacities and eligibility (else it is a bug)."""
        p = self.problem
        ok = (
            placement.starts[0] == 0
            and list(placement.starts) == sorted(set(placement.starts))
            and all(len(a) == p.num_qubits for a in placement.assign)
            and placement.fits(p.capacity)
            and all(a[q] in p.eligible[q] for a in placement.assign for q in range(p.num_qubits))
        )
        if not ok:
            raise PluginError(
                f"placement strategy {strategy!r} returned an invalid placement "
                "(capacity, eligibility or slice structure violated)"
            )

    # -- the plan ----------------------------------------------------------------------

    def plan(
        self, realized: Realized, *, seed: int, strategy: str, cost_model: str, cost: float
    ) -> Plan:
        """The :class:`Plan` of a realised placement."""
        dist, names = realized.distribution, self.network.names
        if not dist.reachable:
            pairs = sorted(
                {(names[s.src], names[s.dest]) for s in dist.remotes if s.hops >= UNREACHABLE}
            )
            raise InfeasibleError(
                "no link path between nodes "
                + ", ".join(f"{a} and {b}" for a, b in pairs)
                + " (usable links: "
                + ", ".join(sorted({f"{lk.a}-{lk.b}" for lk in self.network.links.values()}))
                + ")",
                {"missing_paths": [list(x) for x in pairs]},
            )
        ids = [f"f{f.index}" for f in realized.fragments]
        where_op = {
            el.op: f.index for f in realized.fragments if f.kind == LOCAL for el in f.elements
        }
        fragments = []
        for f in realized.fragments:
            nodes = tuple(names[j] for j in f.nodes)
            deps = tuple(ids[d] for d in f.depends_on)
            duration, fidelity = realized.durations_ms[f.index], realized.fidelities[f.index]
            if f.kind == LOCAL:
                ops = tuple(self._plan_op(el.op, f.nodes[0]) for el in f.elements)
                qubits = tuple(sorted({q for op in ops for q in op.qubits}))
                fragments.append(
                    Fragment(
                        ids[f.index], f.kind, nodes, qubits, ops, deps, 0, (), duration, fidelity
                    )
                )
                continue
            el = f.elements[0]
            remote = dist.moves[el.ref] if el.kind == TELEPORT else dist.shares[el.ref]
            serves: tuple[str, ...] = ()
            if f.kind == "entangle":
                assert isinstance(remote, Share)  # an entangle fragment opens a share
                serves = tuple(
                    sorted({ids[where_op[i]] for i in remote.ops}, key=lambda s: int(s[1:]))
                )
            ebits = 0 if f.kind == "disentangle" else remote.hops
            fragments.append(
                Fragment(
                    ids[f.index],
                    f.kind,
                    nodes,
                    (remote.qubit,),
                    (),
                    deps,
                    ebits,
                    tuple(self.network.path_names(f.nodes[0], f.nodes[1])),
                    duration,
                    fidelity,
                    serves,
                    remote.slice if isinstance(remote, Move) else 0,
                )
            )
        terms = realized.terms
        initial = tuple(names[j] for j in realized.placement.initial)
        return Plan(
            version=PLAN_VERSION,
            circuit_digest=self.circuit.digest(),
            snapshot_digest=self.topology.digest(),
            seed=seed,
            strategy=strategy,
            cost_model=cost_model,
            min_fidelity=self.min_fidelity,
            num_qubits=self.circuit.num_qubits,
            num_clbits=self.circuit.num_clbits,
            num_ops=len(self.problem.ops),
            initial_placement=initial,
            fragments=tuple(fragments),
            ebits=terms.ebits,
            moves=terms.moves,
            estimated_fidelity=terms.estimated_fidelity,
            estimated_duration_ms=terms.latency_ms,
            cost={
                "total": cost,
                "latency_ms": terms.latency_ms,
                "fidelity_risk": terms.fidelity_risk,
                "ebits": float(terms.ebits),
            },
        )

    def _qubit_name(self, q: int) -> str:
        reg, i = self.circuit.register_of_qubit(q)
        return f"{reg}[{i}]"

    def _plan_op(self, index: int, node: int) -> PlanOp:
        op: Operation = self.problem.ops[index]
        cond = None
        if op.condition is not None:
            cond = {"clbits": list(op.condition.clbits), "value": op.condition.value}
        native: tuple[dict[str, Any], ...] = ()
        if op.name not in self.gates[node].basis:
            gates = self.gates[node].native(op.name, op.params)
            if gates is None:  # pragma: no cover - eligibility guarantees a translation
                raise RuntimeError(f"{self.network.names[node]} cannot run {op.name}")
            native = tuple(
                {"name": n, "qubits": [op.qubits[i] for i in qs], "params": list(ps)}
                for n, qs, ps in gates
            )
        return PlanOp(
            index,
            op.name,
            op.qubits,
            op.clbits,
            op.params,
            cond,
            self.prepared.origin[index],
            native,
        )


def compile_circuit(
    circuit: Circuit,
    topology: Topology,
    *,
    plugins: Plugins,
    seed: int = 0,
    strategy: str | None = None,
    cost_model: str | None = None,
    min_fidelity: float | None = None,
    keep: Mapping[int, Collection[str]] | None = None,
    shots: int | None = None,
) -> Plan:
    """Compile ``circuit`` for ``topology`` (FR-004); raise :class:`InfeasibleError` if impossible.

    ``strategy`` / ``cost_model`` default to ``[compiler] placement`` / ``cost_model``;
    ``min_fidelity`` to ``[compiler] min_fidelity``. ``keep`` (qubit index → node names)
    restricts those qubits to those nodes, where usable: a fallback that re-plans only the
    qubits of a failed node (FR-007). ``shots`` is what the fidelity estimate predicts
    for (:mod:`qorch.compile.fidelity`; ``None``: infinitely many). Same inputs and
    seed → same plan.
    """
    settings = plugins.settings.compiler
    strategy = strategy or settings.placement
    cost_model = cost_model or settings.cost_model
    min_fid = settings.min_fidelity if min_fidelity is None else min_fidelity
    comp = Compilation(circuit, topology, min_fid, keep)
    model = plugins.create("cost_model", cost_model)
    placer = plugins.create("placement", strategy)
    objective = comp.objective(model)
    if feasible_assignment(comp.problem) is None:
        raise InfeasibleError(
            "no assignment of qubits to nodes respects both capacities and the gates each "
            "node runs: "
            + "; ".join(
                f"{comp._qubit_name(q)} can only go on "
                + ", ".join(comp.network.names[j] for j in comp.problem.eligible[q])
                for q in range(circuit.num_qubits)
                if len(comp.problem.eligible[q]) < comp.problem.k
            ),
            {"capacity": {nd.name: nd.qubits for nd in comp.network.nodes}},
        )
    placement = placer.place(comp.problem, objective, random.Random(seed))
    comp.check_placement(placement, strategy)
    realized = comp.realize(placement)
    plan = comp.plan(
        realized,
        seed=seed,
        strategy=strategy,
        cost_model=cost_model,
        cost=model.cost(realized.terms),
    )
    predicted = predicted_fidelity(circuit, plan, topology, shots)
    if predicted is None:
        return attrs.evolve(plan, shots=shots or 0)
    return attrs.evolve(
        plan,
        estimated_fidelity=round(predicted, 12),
        fidelity_estimate=OUTPUT_DISTRIBUTION,
        shots=shots or 0,
    )
