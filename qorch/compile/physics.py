"""What physically happens when an executed circuit runs (DESIGN §6): operations, noise,
time.

:func:`physical_run` walks an :class:`~qorch.compile.executed.ExecutedCircuit` and gives
the sequence of :class:`Event` s a simulator runs — the same one the world simulator
turns into a qiskit-aer circuit (:mod:`qorch.runtime.world`) and the fidelity estimator
reads its error probabilities from (:mod:`qorch.compile.fidelity`), so the two cannot
disagree about what noise a plan meets. Noise acts where it happens
(:mod:`qorch.compile.noise`):

* each gate by a depolarizing channel of its node's fidelity for it, times the scale the
  node reported delivering beyond its advert (``scales``); each measurement by a bit
  flip before it, each reset by one after;
* each ebit by its link path's Werner noise on its remote half, so it reaches every gate
  the share serves; each protocol gate, readout and correction by its node's noise (a
  gate the node cannot express — ``x``, ``z`` on a node without them — counts as exact:
  a Pauli frame update);
* each qubit, data or ebit half, by thermal relaxation (the T1, T2 of the node holding
  it) over the time it waits between operations, given the fragments' times
  (:class:`Timing`); without times, or on nodes without coherence times, nothing idles.

The protocols run in an equivalent cheaper form: measurements deferred, the home half of
a cat-entangler folded into one ``cx`` onto the remote half, a teleport as a relabelling
with its errors carried through; ``tests/test_world_forms.py`` shows each form equal, as
density matrices, to the explicit protocol. A share so costs one extra qubit while it is
open, a teleport none.
"""

from __future__ import annotations

from typing import Any

import attrs

from qorch.compile import noise
from qorch.compile.executed import OP, ExecutedCircuit, Interaction, Step
from qorch.compile.native import NodeGates
from qorch.compile.noise import ProtocolNoise
from qorch.ir import Operation
from qorch.plan import Plan
from qorch.topology import Topology


@attrs.frozen
class Timing:
    """When each fragment ran: fragment id → (start, end) in seconds on one clock."""

    fragments: dict[str, tuple[float, float]] = attrs.field(factory=dict)

    def start(self, fragment: str) -> float | None:
        """The fragment's start (``None`` when unknown)."""
        span = self.fragments.get(fragment)
        return None if span is None else span[0]


def planned_timing(plan: Plan) -> Timing:
    """The plan's own schedule: each fragment as soon as its dependencies end, lasting
    its estimated ``duration_ms`` (the cost model's latencies)."""
    spans: dict[str, tuple[float, float]] = {}
    for f in plan.fragments:  # ids are a topological order
        start = max((spans[d][1] for d in f.depends_on), default=0.0)
        spans[f.id] = (start, start + f.duration_ms / 1000)
    return Timing(spans)


@attrs.frozen
class Event:
    """One thing the simulator does: an operation (``channel`` is ``None``) or a noise
    channel on ``qubits``; ``readout`` marks the flip before a measurement of the input
    (its ``clbits`` say which bit)."""

    qubits: tuple[int, ...]
    op: Operation | None = None
    channel: noise.PauliChannel | noise.Thermal | None = None
    readout: bool = False
    clbits: tuple[int, ...] = ()


@attrs.frozen
class PhysicalRun:
    """The events of one run, the qubits they need, and the waiting that decohered."""

    events: tuple[Event, ...]
    num_qubits: int
    idle_us: float

    @property
    def channels(self) -> int:
        """How many noise channels act."""
        return sum(1 for e in self.events if e.channel is not None)


def physical_run(
    executed: ExecutedCircuit,
    topology: Topology,
    timing: Timing | None = None,
    scales: dict[str, float] | None = None,
) -> PhysicalRun:
    """The events of running ``executed`` on ``topology`` (module docstring)."""
    walker = _Walker(executed, topology, timing, scales or {})
    walker.walk()
    return PhysicalRun(tuple(walker.events), walker.num, walker.idle_us)


class _Walker:
    """Turns the steps of an executed circuit into events."""

    def __init__(
        self,
        executed: ExecutedCircuit,
        topology: Topology,
        timing: Timing | None,
        scales: dict[str, float],
    ) -> None:
        self.executed, self.topology, self.timing = executed, topology, timing
        self.scales = scales
        self.gates = {n.name: NodeGates(n) for n in topology.nodes}
        self.coherence = {n.name: (n.t1_us, n.t2_us) for n in topology.nodes if n.t1_us and n.t2_us}
        n = executed.num_data
        self.sim = {q: q for q in range(n)}  # explicit qubit -> simulated qubit
        self.node = dict(enumerate(executed.initial_nodes))  # simulated qubit -> its node
        self.last: dict[int, float] = {}  # simulated qubit -> end of its last operation
        self.free: list[int] = []
        self.num = n
        self.events: list[Event] = []
        self.idle_us = 0.0

    # -- time and idling --------------------------------------------------------------

    def time(self, step: Step) -> float | None:
        """When ``step`` started (seconds), if the fragments' times are known."""
        start = None if self.timing is None else self.timing.start(step.fragment)
        return None if start is None else start + step.offset_ns * 1e-9

    def touch(self, qubits: tuple[int, ...], at: float | None, duration_ns: float = 0.0) -> None:
        """Decohere ``qubits`` for the time they waited until ``at``; mark them busy."""
        if at is None:
            return
        for s in qubits:
            last = self.last.get(s)
            coherence = self.coherence.get(self.node.get(s, ""))
            if last is not None and coherence is not None and at > last:
                idle_us = (at - last) * 1e6
                self.idle_us += idle_us
                self.noise(noise.Thermal(*coherence, idle_us), (s,))
            self.last[s] = max(at + duration_ns * 1e-9, last or 0.0)

    # -- events -----------------------------------------------------------------------

    def noise(self, channel: Any, qubits: tuple[int, ...], clbits: tuple[int, ...] = ()) -> None:
        """A noise channel, unless it does nothing."""
        if channel.error_probability() > 1e-15:
            self.events.append(Event(qubits, channel=channel, readout=bool(clbits), clbits=clbits))

    def emit(self, name: str, qubits: tuple[int, ...], **fields: Any) -> None:
        """An operation."""
        self.events.append(Event(qubits, Operation(name, qubits, **fields)))

    def allocate(self) -> int:
        """A simulated qubit for a share's half (a freed one first)."""
        if self.free:
            return self.free.pop(0)
        self.num += 1
        return self.num - 1

    def fidelity(self, node: str | None, name: str, fragment: str) -> float:
        """The fidelity ``node`` delivered for gate ``name`` in ``fragment``."""
        if node is None:
            return 1.0
        return min(1.0, self.gates[node].fidelity(name) * self.scales.get(fragment, 1.0))

    # -- the steps ---------------------------------------------------------------------

    def walk(self) -> None:
        """Every step, each interaction's steps of one fragment as its simulated form."""
        steps, ops = self.executed.steps, self.executed.circuit.operations
        done: set[tuple[int, str]] = set()
        for op, step in zip(ops, steps, strict=True):
            if step.role == OP:
                self.operation(op, step)
                continue
            group = (step.interaction, step.fragment)
            if group in done:
                continue
            done.add(group)
            interaction = self.executed.interactions[step.interaction]
            at = self.time(step)
            if step.fragment != interaction.fragment:
                self.disentangle(interaction, at)
            elif interaction.kind == "entangle":
                self.entangle(interaction, at)
            else:
                self.teleport(interaction, at)

    def operation(self, op: Operation, step: Step) -> None:
        """A fragment's own operation, its gate noise after it (a readout flip before)."""
        qubits = tuple(self.sim[q] for q in op.qubits)
        self.touch(qubits, self.time(step), step.duration_ns)
        fid = self.fidelity(step.node, op.name, step.fragment)
        if op.name == "measure":
            self.noise(noise.flip(1.0 - fid), qubits, op.clbits)
            self.emit("measure", qubits, clbits=op.clbits, condition=op.condition)
        elif op.name == "reset":
            self.emit("reset", qubits, condition=op.condition)
            self.noise(noise.flip(1.0 - fid), qubits)
        else:
            self.emit(op.name, qubits, params=op.params, condition=op.condition)
            self.noise(noise.depolarizing(fid, len(qubits)), qubits)

    def protocol_noise(self, it: Interaction) -> ProtocolNoise:
        """The fidelities of ``it``'s protocol operations on its two nodes."""
        home, remote = it.nodes

        def fid(node: str, name: str) -> float:
            exact = self.gates[node].cost(name) is None  # a Pauli frame update
            return 1.0 if exact else self.fidelity(node, name, it.fragment)

        return noise.ProtocolNoise(
            link=noise.path_fidelity(self.topology, it.path),
            home_cx=fid(home, "cx"),
            home_h=fid(home, "h"),
            home_measure=fid(home, "measure"),
            remote_measure=fid(remote, "measure"),
            home_z=fid(home, "z"),
            remote_h=fid(remote, "h"),
            remote_x=fid(remote, "x"),
            remote_z=fid(remote, "z"),
        )

    def entangle(self, it: Interaction, at: float | None) -> None:
        """Cat-entangle in its folded form: ``cx q, b`` and the protocol's errors."""
        q, b = self.sim[it.source], self.allocate()
        self.sim[it.remote] = b
        self.node[b] = it.nodes[1]
        self.last.pop(b, None)  # a fresh half: nothing to decohere yet
        self.touch((q,), at)
        self.emit("cx", (q, b))
        self.noise(noise.entangle_channel(self.protocol_noise(it)), (q, b))
        self.touch((b,), at)

    def disentangle(self, it: Interaction, at: float | None) -> None:
        """Cat-disentangle, deferred: ``h b``, ``cz b, q``; ``b`` reset and freed; every
        error of the protocol lands on ``q`` as a Z (:func:`noise.disentangle_channel`)."""
        pn = self.protocol_noise(it)
        b, q = self.sim.pop(it.remote), self.sim[it.source]
        self.touch((b, q), at)
        self.emit("h", (b,))
        self.emit("cz", (b, q))
        self.noise(noise.disentangle_channel(pn), (q,))
        self.emit("reset", (b,))
        self.last.pop(b, None)
        self.free.append(b)
        self.free.sort()

    def teleport(self, it: Interaction, at: float | None) -> None:
        """A teleport as a relabelling: the qubit changes node with the protocol's errors."""
        q = self.sim.pop(it.source)
        self.touch((q,), at)
        self.sim[it.remote] = q
        self.node[q] = it.nodes[1]
        self.noise(noise.teleport_channel(self.protocol_noise(it)), (q,))
