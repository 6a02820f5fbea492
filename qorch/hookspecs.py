"""Every hook of qorch (DESIGN §4). Each one has a section in ``docs/hooks.md``.

Plugins implement hooks with :data:`hookimpl`::

    from qorch.hookspecs import hookimpl

    @hookimpl
    def qorch_register_cost_models(register):
        register("fidelity-only", FidelityOnly, options=FidelityOnlyOptions)

There are three families:

* **registration** hooks (``qorch_register_*``), one per kind of implementation. They are
  *collecting*: every plugin may register any number of implementations by calling
  ``register(name, implementation, options=OptionsClass, summary=...)``. Names are unique
  per kind; a duplicate is an error naming both plugins. ``options`` is an attrs class
  structured from the table ``[plugins.<kind>.<name>]`` of the configuration and checked
  at start-up.
* **lifecycle** hooks (configure, startup, shutdown): plain calls in registration order.
* **observer** hooks (``qorch_on_*``): plain calls; an observer that raises is logged
  and the others still run.

One hook is ``firstresult``: :func:`qorch_select_parser` picks the parser for an input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from qorch.config import Settings
    from qorch.source import CircuitSource

PROJECT = "qorch"

#: Marker for hook specifications (used only here).
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marker plugins use on their hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callable a registration hook receives.

    ``register(name, implementation, *, options=None, summary=None, aliases=())``:
    ``name`` is what configuration selects; ``implementation`` is the object of that kind
    (usually a class or factory called with its options); ``options`` an attrs class of
    its options; ``summary`` a one-line description (default: the first line of its
    docstring); ``aliases`` older names that still select it, with a warning.
    """

    def __call__(
        self,
        name: str,
        implementation: Any,
        *,
        options: type | None = None,
        summary: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None: ...


# --------------------------------------------------------------------------------------
# registration hooks, one per kind
# --------------------------------------------------------------------------------------


@hookspec
def qorch_register_parsers(register: Register) -> None:
    """Register circuit parsers (FR-003).

    Args:
        register: call ``register(name, parser)`` once per parser. ``parser`` is an
            object with ``formats: tuple[str, ...]`` and
            ``parse(source: CircuitSource, limits: LimitsSettings) -> Circuit`` that
            raises :class:`qorch.errors.CircuitError` for bad input.

    Returns:
        Nothing.

    Example::

        @hookimpl
        def qorch_register_parsers(register):
            register("quil", QuilParser())
    """


@hookspec
def qorch_register_cost_models(register: Register) -> None:
    """Register cost models for the compiler (FR-004).

    Args:
        register: ``register(name, factory, options=Options)``; config selects one by
            name (``[compiler] cost_model``), its options come from
            ``[plugins.cost_model.<name>]``. The interface is documented in
            ``docs/hooks.md`` with the compiler that calls it.

    Example::

        @hookimpl
        def qorch_register_cost_models(register):
            register("fidelity-only", FidelityOnly, options=FidelityOnlyOptions)
    """


@hookspec
def qorch_register_placement_strategies(register: Register) -> None:
    """Register placement strategies that map a circuit's qubits onto nodes (FR-004).

    Args:
        register: ``register(name, factory, options=Options)``; selected by
            ``[compiler] placement`` or ``--strategy``.

    Example::

        @hookimpl
        def qorch_register_placement_strategies(register):
            register("annealing", Annealing, options=AnnealingOptions)
    """


@hookspec
def qorch_register_transports(register: Register) -> None:
    """Register transports between coordinator and service nodes (DESIGN §8, §9).

    Args:
        register: ``register(name, factory, options=Options)``; the defaults are
            ``libp2p`` and plain TCP ``tcp`` (formerly ``central``).

    Example::

        @hookimpl
        def qorch_register_transports(register):
            register("grpc", GrpcTransport, options=GrpcOptions)
    """


@hookspec
def qorch_register_fallback_policies(register: Register) -> None:
    """Register fallback policies used when retries of a fragment are exhausted (FR-007).

    Args:
        register: ``register(name, factory, options=Options)``; the factory's object has
            ``replan_on(failure, plan, snapshot) -> Replan | None``
            (:class:`qorch.interfaces.FallbackPolicy`). The defaults are
            ``replan-affected``, ``replan-all`` and ``none``.

    Example::

        @hookimpl
        def qorch_register_fallback_policies(register):
            register("replan-all", ReplanAll)
    """


@hookspec
def qorch_register_orchestrations(register: Register) -> None:
    """Register orchestrations: who drives a plan's execution (issue 17, DESIGN §9).

    Args:
        register: ``register(name, factory, options=Options)``; the factory's object has
            ``discovery`` (``adverts`` or ``static``) and ``runner(plan, run_id, client,
            options, listener)`` (:class:`qorch.interfaces.Orchestration`). Selected by
            ``[runtime] orchestration``; the defaults are ``distributed`` (nodes
            choreograph the plan among themselves) and ``centralized`` (a hub).

    Example::

        @hookimpl
        def qorch_register_orchestrations(register):
            register("gossip", GossipOrchestration)
    """


@hookspec
def qorch_register_stores(register: Register) -> None:
    """Register persistence back ends (FR-010).

    Args:
        register: ``register(name, factory, options=Options)``. ``factory(options,
            data_dir)`` returns a :class:`qorch.store.Store`. Selected by
            ``[store] backend``; options from ``[plugins.store.<name>]``.

    Example::

        @hookimpl
        def qorch_register_stores(register):
            register("sqlite", SqliteStore.create, options=SqliteOptions)
    """


@hookspec
def qorch_register_node_types(register: Register) -> None:
    """Register node types: models of a QPU a service node simulates (DESIGN §6).

    Args:
        register: ``register(name, factory, options=Options)``; third-party QPU models
            plug in here.

    Example::

        @hookimpl
        def qorch_register_node_types(register):
            register("neutral-atom", NeutralAtom, options=NeutralAtomOptions)
    """


@hookspec
def qorch_register_fault_injectors(register: Register) -> None:
    """Register fault injectors driven by seeded schedules (FR-013, DESIGN §10).

    Args:
        register: ``register(name, factory, options=Options)``.

    Example::

        @hookimpl
        def qorch_register_fault_injectors(register):
            register("packet-loss", PacketLoss, options=PacketLossOptions)
    """


# --------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def qorch_select_parser(source: CircuitSource, format: str) -> str | None:
    """Claim an input: return the name of the parser that should read it, or ``None``.

    Called in LIFO registration order until one implementation returns a name, so a
    plugin can claim its own format before the built-in detection runs.

    Args:
        source: the input (text and/or object, its origin for messages).
        format: what the caller asked for: ``"auto"`` or a format name such as
            ``"qasm2"``.

    Returns:
        A registered parser name, or ``None`` to let the next implementation decide.

    Example::

        @hookimpl
        def qorch_select_parser(source, format):
            if format == "quil" or (source.text or "").startswith("DECLARE"):
                return "quil"
            return None
    """


# --------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------


@hookspec
def qorch_configure(settings: Settings) -> None:
    """Called once after plugins are loaded and the configuration validated.

    Args:
        settings: the validated :class:`qorch.config.Settings`; a plugin reads its own
            options with ``settings.options_for(kind, name)``.

    Raising aborts start-up with an error naming the plugin.

    Example::

        @hookimpl
        def qorch_configure(settings):
            MyPack.threshold = settings.options_for("cost_model", "mine").get("t", 0.5)
    """


@hookspec
def qorch_startup(role: str, settings: Settings) -> None:
    """Called when a qorch process starts its service.

    Args:
        role: ``"cli"``, ``"coordinator"``, ``"node"`` or ``"bench"``.
        settings: the validated settings.

    Raising aborts start-up with an error naming the plugin.

    Example::

        @hookimpl
        def qorch_startup(role, settings):
            if role == "coordinator":
                open_my_exporter()
    """


@hookspec
def qorch_shutdown(role: str) -> None:
    """Called when a qorch process stops its service (errors are logged, not raised).

    Args:
        role: as for :func:`qorch_startup`.

    Example::

        @hookimpl
        def qorch_shutdown(role):
            close_my_exporter()
    """


# --------------------------------------------------------------------------------------
# observers
# --------------------------------------------------------------------------------------


@hookspec
def qorch_on_job_state(job_id: str, old: str | None, new: str, at: str, detail: dict) -> None:
    """A job changed state (FR-009), after the change was persisted.

    Args:
        job_id: the job.
        old: previous state, ``None`` for a new job.
        new: one of ``QUEUED COMPILING RESERVING EXECUTING COMPLETED FAILED``.
        at: ISO 8601 time of the change.
        detail: extra facts (e.g. ``{"error": {...}}`` on failure).

    Example::

        @hookimpl
        def qorch_on_job_state(job_id, old, new, at, detail):
            print(job_id, old, "->", new)
    """


@hookspec
def qorch_on_fragment_state(
    job_id: str, fragment_id: str, node: str | None, state: str, at: str, detail: dict
) -> None:
    """A fragment of a job started, finished, failed or was retried (FR-006).

    Args:
        job_id: the job.
        fragment_id: the fragment within the job's plan.
        node: the service node it runs on (``None`` before placement).
        state: the fragment's new state.
        at: ISO 8601 time.
        detail: attempt number, error, durations.

    Example::

        @hookimpl
        def qorch_on_fragment_state(job_id, fragment_id, node, state, at, detail):
            timeline.append((fragment_id, node, state, at))
    """


@hookspec
def qorch_on_advert(node_id: str, accepted: bool, reason: str | None, advert: dict) -> None:
    """A service advertisement arrived (FR-001), whether accepted or rejected.

    Args:
        node_id: the advertising node's id (peer id), as claimed or as seen.
        accepted: whether it passed validation and reached the registry.
        reason: why it was rejected (``None`` when accepted).
        advert: the advertisement as received (possibly invalid).

    Example::

        @hookimpl
        def qorch_on_advert(node_id, accepted, reason, advert):
            if not accepted:
                rejected[reason] += 1
    """
