"""Every plugin kind's interface, and the plugin system's, in one place (DESIGN §4).

A plugin registers implementations of nine kinds through the ``qorch_register_*`` hooks
of :mod:`qorch.hookspecs`; :class:`qorch.registry.Registry` checks each against the
Protocol named here when it is registered (a wrong object is refused naming the kind and
the missing members). The values the kernel and an implementation exchange are defined
here too when nothing else owns them (:class:`CostTerms`, :class:`Outcome`,
:class:`Replan`); the rest come from the modules below this one (the IR, the topology,
the plan, the transport's configuration, the store's records).

==================  ===============================  ====================================
kind                interface                        what it is
==================  ===============================  ====================================
parser              :class:`Parser`                  source text or object -> IR (FR-003)
cost_model          :class:`CostModel`               plan terms -> scalar cost (FR-004)
placement_strategy  :class:`PlacementStrategy`       qubits -> nodes (FR-004)
transport           :class:`Transport`               opens a :class:`Peer` (FR-006)
fallback            :class:`FallbackPolicy`          re-plan after a failure (FR-007)
orchestration       :class:`Orchestration`           who drives a plan's execution (§9)
store               :class:`~qorch.store.Store`      jobs, plans, records (FR-009)
node_type           :class:`NodeType`                a simulated QPU's behaviour (FR-005)
fault               :class:`FaultInjector`           fault events of a scenario (FR-013)
==================  ===============================  ====================================

The store's interface is an abstract base class rather than a Protocol: subclassing it
gives the context-manager and batching defaults.

This module sits at the bottom of the kernel's layers (``lint-imports``): it imports
only the data types below it, so every layer can name these interfaces.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from qorch.store import Store

if TYPE_CHECKING:
    from qorch.config import LimitsSettings, Settings
    from qorch.errors import FragmentFailed
    from qorch.faults import FaultEvent
    from qorch.ir import Circuit
    from qorch.placement import Placement
    from qorch.plan import Plan
    from qorch.problem import PlacementProblem
    from qorch.source import CircuitSource
    from qorch.topology import NodeSpec, Topology
    from qorch.transport import Handler, PeerConfig

__all__ = [
    "CostModel",
    "CostTerms",
    "FallbackPolicy",
    "FaultInjector",
    "NodeType",
    "Objective",
    "Orchestration",
    "Outcome",
    "Parser",
    "Peer",
    "PlacementStrategy",
    "Plugins",
    "Replan",
    "Store",
    "Transport",
]


# -- values exchanged with implementations ----------------------------------------------


@attrs.frozen
class CostTerms:
    """What a plan costs, term by term.

    ``latency_ms``: estimated makespan (critical path of fragment durations and link
    latencies); ``fidelity_risk``: 1 − estimated fidelity; ``ebits``: entanglement overhead;
    ``moves``: how many of the ebits were spent on teleporting qubits; ``unreachable``:
    interactions between nodes with no link path — a placement with any has no plan, and
    :class:`~qorch.compile.strategy.Objective` ranks it below every plan without asking
    the cost model.
    """

    latency_ms: float
    fidelity_risk: float
    ebits: int
    moves: int = 0
    unreachable: int = 0

    @property
    def estimated_fidelity(self) -> float:
        """1 − fidelity risk."""
        return 1.0 - self.fidelity_risk


@attrs.frozen
class Outcome:
    """How executing one fragment went: simulated duration, delivered fidelity, failure."""

    duration_ns: float
    fidelity: float
    error: str | None = None


@attrs.frozen
class Replan:
    """How to plan a job again: on ``topology``; each qubit of ``keep`` (global index)
    stays on one of its node names; ``scope`` is ``affected`` or ``all``, for the record."""

    topology: Topology
    keep: dict[int, tuple[str, ...]] = attrs.field(factory=dict)
    scope: str = "all"


# -- the eight kinds ----------------------------------------------------------------------


@runtime_checkable
class Parser(Protocol):
    """The interface of a parser plugin (kind ``parser``, FR-003).

    ``formats`` names the input formats it reads (``qasm2``, ``qasm3``, ``qiskit``, ...),
    which ``--format`` and ``qorch_select_parser`` choose between. ``parse`` raises
    :class:`~qorch.errors.CircuitError` (kind, message, line, column) on bad input.
    """

    formats: tuple[str, ...]

    def parse(self, source: CircuitSource, limits: LimitsSettings) -> Circuit:
        """The circuit ``source`` holds, in qorch's IR, within ``limits``."""
        ...


@runtime_checkable
class CostModel(Protocol):
    """The interface of a cost model plugin (kind ``cost_model``, FR-004)."""

    def cost(self, terms: CostTerms) -> float:
        """The scalar cost of a plan with ``terms``; lower is better."""
        ...


class Objective(Protocol):
    """What a placement strategy optimises (:class:`qorch.compile.strategy.Objective`).

    ``cost(placement)`` is the configured cost model on the compiled placement (exact,
    cached); ``ebit_weight`` and ``logf_weight`` linearise it for fast local search.
    """

    ebit_weight: float
    logf_weight: float

    def cost(self, placement: Placement) -> float:
        """The exact cost of ``placement``."""
        ...


@runtime_checkable
class PlacementStrategy(Protocol):
    """The interface of a placement strategy plugin (kind ``placement_strategy``, FR-004).

    It must return a placement that fits the capacities and puts every qubit on one of its
    eligible nodes; all randomness must come from ``rng`` (NFR-001).
    """

    def place(
        self, problem: PlacementProblem, objective: Objective, rng: random.Random
    ) -> Placement:
        """Choose where every qubit lives (over time, for time-sliced strategies)."""
        ...


@runtime_checkable
class Peer(Protocol):
    """An open endpoint of a transport (see :mod:`qorch.transport`)."""

    @property
    def peer_id(self) -> str:
        """This peer's stable identity."""
        ...

    @property
    def addresses(self) -> tuple[str, ...]:
        """Addresses others can dial, each naming this peer (``.../p2p/<peer_id>``)."""
        ...

    async def dial(self, address: str) -> str:
        """Connect to ``address``; return the peer id there. ``TransportError`` if not."""
        ...

    async def call(
        self, peer_id: str, verb: str, body: dict[str, Any], *, timeout: float
    ) -> dict[str, Any]:
        """Send one request to ``peer_id`` and wait for its reply (:mod:`qorch.transport`)."""
        ...

    def connected(self) -> set[str]:
        """Peer ids with an open connection now."""
        ...

    def learn(self, peer_id: str, address: str) -> None:
        """Remember ``address`` for ``peer_id`` (e.g. from its advert) to redial it later."""
        ...


@runtime_checkable
class Transport(Protocol):
    """The interface of a transport plugin (kind ``transport``, DESIGN §8)."""

    def check_address(self, address: str) -> str | None:
        """What is wrong with ``address`` as a peer address to dial (a sentence), or
        ``None`` when it is well formed — checked before anything starts (issue 15)."""
        ...

    def open(
        self,
        config: PeerConfig,
        handler: Handler,
        on_disconnect: Callable[[str], None] | None = None,
    ) -> AbstractAsyncContextManager[Peer]:
        """An async context manager that runs a peer until the block exits."""
        ...


@runtime_checkable
class FallbackPolicy(Protocol):
    """The interface of a fallback policy plugin (kind ``fallback``, FR-007)."""

    def replan_on(self, failure: FragmentFailed, plan: Plan, snapshot: Topology) -> Replan | None:
        """How to plan the job again after ``failure`` of ``plan``, or ``None`` to let it
        fail. ``snapshot`` is the latest topology, without nodes excluded earlier."""
        ...


class Runner(Protocol):
    """One run of a plan, as an :class:`Orchestration` makes it: reserve, execute,
    release (:class:`qorch.runtime.plan_runner.PlanRunner` is the hub's)."""

    runs: dict[str, Any]  # fragment id -> FragmentRun, as they end
    traffic: Any  # qorch.runtime.plan_runner.Traffic: the run's messages

    async def run(self) -> dict[str, Any]:
        """Run the plan; the fragments' runs by id, or ``FragmentFailed``."""
        ...


@runtime_checkable
class Orchestration(Protocol):
    """The interface of an orchestration plugin (kind ``orchestration``, issue 17,
    DESIGN §9): who drives a plan's execution, and how the coordinator learns its
    nodes — ``discovery`` is ``adverts`` (nodes announce themselves, continuously) or
    ``static`` (the topology file's inventory, its nodes' status polled)."""

    discovery: str

    def runner(self, plan: Plan, run_id: str, client: Any, options: Any, listener: Any) -> Runner:
        """A runner of ``plan`` as ``run_id`` through ``client`` (a
        :class:`~qorch.runtime.plan_runner.NodeClient`) with ``options``
        (:class:`~qorch.runtime.plan_runner.RunOptions`), telling ``listener``
        (:class:`~qorch.runtime.plan_runner.RunListener`)."""
        ...


@runtime_checkable
class NodeType(Protocol):
    """The interface of a node type plugin (kind ``node_type``, FR-005)."""

    def describe(self, name: str, preset: str | None = None) -> NodeSpec:
        """The node ``name`` as this type offers it (``preset`` picks a variant); its
        ``t1_us``/``t2_us``, if set, serve topology entries that set no coherence."""
        ...

    def run(
        self, spec: NodeSpec, ops: list[dict[str, Any]], rng: random.Random, fidelity_scale: float
    ) -> Outcome:
        """Account ``ops`` (``{"name", "qubits", ...}``) on ``spec``; ``fidelity_scale``
        (1 normally, lower when a fault degrades the node) scales every gate fidelity."""
        ...


@runtime_checkable
class FaultInjector(Protocol):
    """The interface of a fault injector plugin (kind ``fault``, FR-013)."""

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """The faults this injector adds to a run on ``topology``, drawn from ``rng``."""
        ...


# -- the plugin system as the layers below it see it ------------------------------------


class Plugins(Protocol):
    """What the kernel asks of :class:`qorch.plugins.PluginSystem` (DESIGN §4).

    Lower layers take this Protocol instead of importing the plugin system, so that the
    compiler, the runtime and ingestion never depend on how plugins are loaded.
    """

    settings: Settings

    def create(
        self,
        kind: str,
        name: str | None = None,
        *,
        overrides: dict[str, Any] | None = None,
        where: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """An instance of implementation ``name`` (default: the configured one) of ``kind``,
        its options from configuration with ``overrides`` laid over them (problems
        reported under ``where``)."""
        ...

    def options(
        self,
        kind: str,
        name: str,
        overrides: dict[str, Any] | None = None,
        where: str | None = None,
    ) -> Any:
        """The structured options of implementation ``name`` of ``kind``."""
        ...

    def select_parser(self, source: CircuitSource, format: str) -> str | None:
        """Which parser reads ``source`` (``format`` may be ``auto``), or ``None``."""
        ...

    def parser(self, name: str) -> Parser:
        """The registered parser ``name`` (UnknownImplementation lists the others)."""
        ...

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call observer hook ``hook`` (``qorch_on_*``) on every plugin."""
        ...

    def observing(self, observer: object, name: str) -> AbstractContextManager[None]:
        """Register ``observer``'s ``qorch_on_*`` hooks for the block."""
        ...
