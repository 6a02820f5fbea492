"""One job end to end (FR-004, FR-006, FR-007, DESIGN §6): compile, run, fall back,
simulate.

:func:`run_job` compiles the circuit on the latest snapshot, runs the plan with a
:class:`~qorch.runtime.plan_runner.PlanRunner`, and when a fragment fails on every attempt
asks the configured fallback policy how to plan again (at most ``[runtime]
max_fallbacks`` times; nodes excluded once stay excluded for this job; see
:mod:`qorch.builtin.default_fallback`). Then the world
simulator runs the plan as it was executed — fragments in the order and at the times
the execution records give (``[world] idle_time``) — and exports its executed circuit.
The :class:`JobResult` holds the counts, the estimated and achieved fidelity, ebits,
per-fragment records, retries, fallbacks and the time figures: ``wall_ms`` from submit
(or the start of ``qorch run``) to the last fragment's end, ``compile_ms``, the
``critical_path_ms`` of simulated operation time the nodes accounted along the fragment
DAG, ``orchestration_overhead_ms`` = wall − compile − critical path, and ``simulate_ms``,
the world simulation (not part of the wall time).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import trio

from qorch.compile.compiler import InfeasibleError, compile_circuit
from qorch.compile.executed import execution_order
from qorch.config import Settings
from qorch.converters import integer, number
from qorch.errors import FragmentFailed, QorchError
from qorch.interfaces import Plugins
from qorch.ir import Circuit
from qorch.plan import Plan, plan_from_dict
from qorch.runtime.plan_runner import (
    FragmentEvent,
    FragmentRun,
    NodeClient,
    RunOptions,
    Timeouts,
    Traffic,
    fidelity_scales,
)
from qorch.runtime.retry import RetryPolicy
from qorch.runtime.workers import in_worker
from qorch.runtime.world import Timing, planned_timing, simulate
from qorch.topology import Topology, topology_from_dict

PLAN_RETRY_S = 0.25  # how often a job waiting for usable nodes plans again
MAX_SHOTS = 1_000_000  # the most shots one job may ask for (FR-014)


@attrs.frozen
class JobRequest:
    """What one job asks for (FR-009, FR-014), checked by its attrs validators wherever it
    is made: ``shots`` (``None``: ``[runtime] shots``), the ``seed`` everything random
    in the job derives from (NFR-001), the lowest gate and link fidelity it accepts
    (``None``: ``[compiler] min_fidelity``) and the placement ``strategy`` (``None``:
    ``[compiler] placement``). The HTTP API's body is one with its circuit
    (:class:`qorch.coordinator.submission.Submission`); ``qorch run`` and the harness
    make theirs from their options."""

    shots: int | None = attrs.field(default=None, validator=integer(1, MAX_SHOTS).optional())
    seed: int = attrs.field(default=0, validator=integer(0, 2**32 - 1))
    min_fidelity: float | None = attrs.field(default=None, validator=number(0, 1).optional())
    strategy: str | None = None


class JobFailed(QorchError):
    """A job could not complete; ``details`` says which fragment, node and error."""

    kind = "job_failed"

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "job_failed", "message", "details"}``."""
        return {"kind": self.kind, "message": str(self), "details": self.details}


@attrs.frozen
class JobResult:
    """What ``GET .../result`` and ``qorch run`` report."""

    job_id: str
    shots: int
    counts: dict[str, int]
    simulated: bool
    reason: str | None
    estimated_fidelity: float
    achieved_fidelity: float | None
    ebits: int
    plan_digest: str
    fragments: tuple[FragmentRun, ...]
    retries: int
    fallbacks: tuple[dict[str, Any], ...]
    wall_ms: float
    simulated_ops_ms: float
    orchestration_overhead_ms: float
    fragments_per_node: dict[str, int]
    placement: tuple[str, ...] = ()  # the final plan's node of each qubit at the start
    compile_ms: float = 0.0  # compiling, every plan of the job together
    ideal_outcomes: int = 0  # outcomes of the noiseless reference (its support)
    fidelity_estimate: str = "gate-product"  # how estimated_fidelity was made (Plan)
    critical_path_ms: float = 0.0  # simulated operation time along the fragment DAG
    simulate_ms: float = 0.0  # the world simulation (outside wall_ms)
    idle_time: str = "none"  # how long qubits waited: measured | planned | none
    idle_us: float = 0.0  # waiting that decohered qubits (on nodes with T1/T2), summed
    executed_qasm3: str = ""  # the executed circuit (explicit protocols, no noise)
    orchestration: str = ""  # who drove it: distributed | centralized (issue 17)
    transport: str = ""  # what carried its messages: libp2p | tcp
    coordinator_messages: int = 0  # qorch messages the coordinator sent or received
    peer_messages: int = 0  # qorch messages between nodes
    bytes: int = 0  # of both, as JSON
    critical_path_hops: int = 0  # sequential control-plane messages on the longest chain
    ready_to_start_ms: float = 0.0  # mean wait from a fragment's last predecessor to it

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return attrs.asdict(self, recurse=True)

    def figures(self) -> dict[str, Any]:
        """The job's headline numbers, as the store's metrics and the harness record them."""
        return figures_of({name: getattr(self, name) for name in FIGURES})


#: a job's headline numbers (:meth:`JobResult.figures`)
FIGURES = (
    "compile_ms", "wall_ms", "simulate_ms", "critical_path_ms", "orchestration_overhead_ms",
    "estimated_fidelity", "achieved_fidelity", "ebits", "retries", "fallbacks",
    "coordinator_messages", "peer_messages", "bytes", "critical_path_hops", "ready_to_start_ms",
)  # fmt: skip


def figures_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of a result as plain data (``GET .../result``'s body, or a
    :class:`JobResult`'s fields): ``fallbacks`` counted."""
    out = {name: result.get(name) for name in FIGURES}
    out["fallbacks"] = len(result.get("fallbacks") or ())
    return out


def runtime_policies(settings: Settings) -> tuple[RetryPolicy, Timeouts]:
    """The retry policy and timeouts ``[runtime]`` configures."""
    r = settings.runtime
    retry = RetryPolicy(
        attempts=r.attempts, base_s=r.backoff_base_s, cap_s=r.backoff_cap_s, jitter=r.backoff_jitter
    )
    timeouts = Timeouts(
        reserve=r.reserve_timeout_s,
        execute_local=r.execute_local_timeout_s,
        execute_remote=r.execute_remote_timeout_s,
    )
    return retry, timeouts


class _Planner:
    """Compiles a job's circuit, waiting a while for nodes that are missing (FR-004)."""

    def __init__(
        self,
        circuit: Circuit,
        snapshot: Callable[[], Topology],
        plugins: Plugins,
        seed: int,
        strategy: str | None,
        min_fidelity: float | None,
        shots: int,
    ) -> None:
        self.circuit, self.snapshot, self.plugins = circuit, snapshot, plugins
        self.seed, self.strategy, self.min_fidelity = seed, strategy, min_fidelity
        self.shots = shots  # what the fidelity estimate predicts for
        self.compile_s = 0.0  # time spent compiling, all plans together

    async def plan(
        self,
        topology: Topology,
        keep: dict[int, tuple[str, ...]],
        fallbacks: list[dict[str, Any]],
        started: float,
    ) -> tuple[Plan, Topology]:
        """A plan on ``topology`` (refreshed while waiting) and the topology it is for.

        Kept qubits that leave no plan are released (the fallback's scope becomes
        ``all``); while nodes are unavailable or degraded (or none is known yet) it plans
        again every :data:`PLAN_RETRY_S` for up to ``[runtime] plan_wait_s``, then raises
        :class:`JobFailed`.
        """
        wait_s = self.plugins.settings.runtime.plan_wait_s
        while True:
            began = time.perf_counter()
            try:
                plan = await trio.to_thread.run_sync(
                    functools.partial(
                        compile_circuit,
                        self.circuit,
                        topology,
                        plugins=self.plugins,
                        seed=self.seed,
                        strategy=self.strategy,
                        min_fidelity=self.min_fidelity,
                        keep=keep,
                        shots=self.shots,
                    )
                )
                self.compile_s += time.perf_counter() - began
                return plan, topology
            except InfeasibleError as exc:
                self.compile_s += time.perf_counter() - began
                if keep:  # the kept qubits leave no plan: re-plan the whole circuit
                    keep = {}
                    fallbacks[-1]["scope"] = "all"
                    continue
                excluded = {n for f in fallbacks for n in f["excluded"]}
                missing = [
                    n.name
                    for n in topology.nodes
                    if (not n.available or n.degraded) and n.name not in excluded
                ]
                waiting = missing or not topology.nodes  # none known yet: discovery runs
                if not waiting or time.perf_counter() - started >= wait_s:
                    raise JobFailed(
                        f"no plan: {exc}", {"infeasible": exc.to_dict(), "fallbacks": fallbacks}
                    ) from None
                # a node that is down now may be back soon (a missed advert, a restart)
                await trio.sleep(PLAN_RETRY_S)
                topology = self.snapshot().without(tuple(excluded))


async def _starting_point(
    resume: dict[str, Any] | None, snapshot: Callable[[], Topology], settings: Settings
) -> tuple[Plan | None, Topology, list[dict[str, Any]]]:
    """A resumed run's stored plan, topology and fallbacks (once its nodes are back), or
    no plan yet, the latest snapshot and no fallbacks."""
    if resume is None:
        return None, snapshot(), []
    plan = plan_from_dict(resume["plan"])
    # a restarted coordinator hears from its nodes again within a refresh or two
    await _until_available(plan, snapshot, settings.runtime.plan_wait_s)
    return plan, topology_from_dict(resume["topology"], "stored plan"), list(resume["fallbacks"])


async def _until_available(plan: Plan, snapshot: Callable[[], Topology], wait_s: float) -> None:
    """Wait (up to ``wait_s``) until every node ``plan`` uses is available."""
    used = {n for f in plan.fragments for n in f.nodes}
    with trio.move_on_after(wait_s):
        while not used <= {n.name for n in snapshot().nodes if n.available}:
            await trio.sleep(PLAN_RETRY_S)


@attrs.frozen
class JobOptions:
    """Which job a run is, what it asks for and where it resumes from (FR-009, FR-010).

    ``request``: shots, seed, strategy and fidelity floor (every default when not given).
    Recovery: ``resume`` is the progress a previous coordinator process stored
    (:meth:`JobListener.on_plan`), whose run is run again with exactly that plan, without
    compiling, after the same fallbacks; ``held`` (by run id, node → reservation id) are
    the windows it was granted, used again, so the nodes' idempotency by (job, fragment,
    attempt) answers every fragment that already ran with its record instead of running
    it twice. ``submitted_at`` (unix time; default: now) is where ``wall_ms`` counts from.
    """

    job_id: str
    request: JobRequest = attrs.field(factory=JobRequest)
    held: dict[str, dict[str, str]] = attrs.field(factory=dict)
    resume: dict[str, Any] | None = None
    submitted_at: float | None = None


class JobListener(Protocol):
    """How a caller (the coordinator) follows and persists one job's run.

    ``on_state("RESERVING" | "EXECUTING")`` is awaited before the first reservation and
    once the first plan's windows are held; ``on_plan(progress)`` after each plan is
    made, before its first reservation — ``{"run", "plan", "topology", "fallbacks"}``,
    what :class:`JobOptions` takes back as ``resume``; ``on_reserved(run_id, node,
    reservation_id)`` after each window is granted and ``on_released(...)`` after it is
    given back; ``on_fragment_state(event)`` at every fragment state change
    (:class:`~qorch.runtime.plan_runner.FragmentEvent`). Cancelled while
    ``keep_windows()`` is true (the coordinator is shutting down), the job keeps its
    windows. Every method does nothing by default: :class:`QuietJobListener` (or any
    explicit subclass) hears only what it overrides.
    """

    async def on_state(self, state: str) -> None:
        """The job entered ``state``."""
        return None

    async def on_plan(self, progress: dict[str, Any]) -> None:
        """A plan was made (its progress record)."""
        return None

    async def on_reserved(self, run_id: str, node: str, reservation_id: str) -> None:
        """A window was granted."""
        return None

    async def on_released(self, run_id: str, node: str, reservation_id: str) -> None:
        """A window was given back."""
        return None

    async def on_fragment_state(self, event: FragmentEvent) -> None:
        """A fragment changed state."""
        return None

    def keep_windows(self) -> bool:
        """Whether a cancelled job keeps its windows (the coordinator is stopping)."""
        return False


class QuietJobListener(JobListener):
    """A :class:`JobListener` that ignores every event and keeps no windows."""


@attrs.frozen
class _RunEvents:
    """One run of a job as its :class:`~qorch.runtime.plan_runner.RunListener`: the
    runner's events go to the job's ``listener``; its windows being held makes the job
    ``EXECUTING`` on its ``first`` run only (a fallback's run continues the job)."""

    listener: JobListener
    first: bool

    async def on_reserved(self, run_id: str, node: str, reservation_id: str) -> None:
        """To the job's listener."""
        await self.listener.on_reserved(run_id, node, reservation_id)

    async def on_released(self, run_id: str, node: str, reservation_id: str) -> None:
        """To the job's listener."""
        await self.listener.on_released(run_id, node, reservation_id)

    async def on_held(self) -> None:
        """``on_state("EXECUTING")`` on the first run."""
        if self.first:
            await self.listener.on_state("EXECUTING")

    async def on_fragment_state(self, event: FragmentEvent) -> None:
        """To the job's listener."""
        await self.listener.on_fragment_state(event)

    def keep_windows(self) -> bool:
        """The job's listener decides."""
        return self.listener.keep_windows()


async def run_job(
    circuit: Circuit,
    snapshot: Callable[[], Topology],
    client: NodeClient,
    plugins: Plugins,
    options: JobOptions,
    listener: JobListener | None = None,
) -> JobResult:
    """Run ``circuit`` on the nodes ``client`` reaches as ``options`` ask (module
    docstring), telling ``listener`` (default: nobody) as it goes.

    ``snapshot()`` gives the latest topology (FR-008) each time a plan is made. Raises
    :class:`JobFailed` when no plan exists or the fallbacks run out. Run ``k`` of a job
    (after ``k`` fallbacks) talks to the nodes as its job id (k = 0) or ``<job id>.k``,
    so a re-planned fragment never meets a record of the earlier run.
    """
    settings: Settings = plugins.settings
    job_id, request = options.job_id, options.request
    seed = request.seed
    cb = listener or QuietJobListener()
    retry, timeouts = runtime_policies(settings)
    policy = plugins.create("fallback")
    orchestration = plugins.create("orchestration")
    traffic = Traffic()
    started = time.perf_counter()
    submitted_at = time.time() if options.submitted_at is None else options.submitted_at
    plan, topology, fallbacks = await _starting_point(options.resume, snapshot, settings)
    keep: dict[int, tuple[str, ...]] = {}  # qubits a fallback keeps where they were
    earlier: list[FragmentRun] = []
    shots = request.shots or settings.runtime.shots
    planner = _Planner(
        circuit, snapshot, plugins, seed, request.strategy, request.min_fidelity, shots
    )
    while True:
        if plan is None:
            plan, topology = await planner.plan(topology, keep, fallbacks, started)
            await cb.on_plan(
                {
                    "run": len(fallbacks),
                    "plan": plan.to_dict(),
                    "topology": topology.to_dict(),
                    "fallbacks": fallbacks,
                }
            )
        run_id = job_id if not fallbacks else f"{job_id}.{len(fallbacks)}"
        run_options = RunOptions(
            retry=retry,
            timeouts=timeouts,
            seed=seed + len(fallbacks),
            deadline_s=settings.runtime.deadline_s,
            held=options.held.get(run_id, {}),
            peer_wait_s=settings.runtime.peer_wait_s,
        )
        events = _RunEvents(cb, first=not fallbacks)
        runner = orchestration.runner(plan, run_id, client, run_options, events)
        if not fallbacks:
            await cb.on_state("RESERVING")
        try:
            runs = await runner.run()
            traffic.add(runner.traffic)
            break
        except FragmentFailed as failure:
            traffic.add(runner.traffic)
            earlier.extend(runner.runs.values())
            excluded = tuple(n for f in fallbacks for n in f["excluded"])
            replan = policy.replan_on(failure, plan, snapshot().without(excluded))
            if replan is None or len(fallbacks) >= settings.runtime.max_fallbacks:
                raise JobFailed(
                    str(failure), {**failure.to_dict(), "fallbacks": fallbacks}
                ) from None
            fallbacks.append(
                {
                    "after": failure.to_dict(),
                    "excluded": list(failure.failed),
                    "scope": replan.scope,
                }
            )
            topology, keep, plan = replan.topology, dict(replan.keep), None
    idle_time = settings.world.idle_time
    wall_ms = (_last_end(runs) - submitted_at) * 1000
    world, simulate_ms = await _simulate(circuit, plan, topology, runs, shots, seed, idle_time)
    times = {"wall_ms": wall_ms, "compile_ms": planner.compile_s * 1000, "simulate_ms": simulate_ms}
    result = _result(job_id, plan, world, runs, earlier, fallbacks, times, idle_time)
    return attrs.evolve(
        result,
        orchestration=settings.runtime.orchestration,
        transport=settings.network.transport,
        coordinator_messages=traffic.coordinator_messages,
        peer_messages=traffic.peer_messages,
        bytes=traffic.coordinator_bytes + traffic.peer_bytes,
        critical_path_hops=traffic.critical_path_hops,
        ready_to_start_ms=ready_to_start_ms(plan, runs),
    )


def ready_to_start_ms(plan: Plan, runs: dict[str, FragmentRun]) -> float:
    """The mean time from a fragment's last predecessor's end to its start, over the
    fragments with predecessors (the records' clock, issue 17): the control plane's
    reaction time, hub round trip or peer notice."""
    starts = _starts(runs)
    waits = []
    for f in plan.fragments:
        ends = [record_end(runs[d]) for d in f.depends_on if d in runs]
        if f.id in starts and ends and None not in ends:
            waits.append(max(0.0, starts[f.id] - max(e for e in ends if e is not None)))
    return 1000 * sum(waits) / len(waits) if waits else 0.0


def record_end(run: FragmentRun) -> float | None:
    """When ``run`` ended on its nodes (its latest record), else on the runner's clock."""
    ends = [r["ended_at"] for r in run.records if r.get("ended_at") is not None]
    return max(ends) if ends else run.ended_at


async def _simulate(
    circuit: Circuit,
    plan: Plan,
    topology: Topology,
    runs: dict[str, FragmentRun],
    shots: int,
    seed: int,
    idle_time: str,
) -> tuple[Any, float]:
    """The world simulation of the plan as its records say it ran (in a worker process:
    :mod:`qorch.runtime.workers`), and its time in ms."""
    began = time.perf_counter()
    world = await in_worker(  # CPU-bound, qiskit: in a process, so a crash is a worker's
        simulate,
        circuit,
        plan,
        topology,
        shots=shots,
        seed=seed,
        timing=_timing(plan, runs, idle_time),
        fidelity_scales=fidelity_scales(runs, topology),
        order=execution_order(plan, _starts(runs)),
    )
    return world, (time.perf_counter() - began) * 1000


def _starts(runs: dict[str, FragmentRun]) -> dict[str, float]:
    """When each fragment began on its nodes (the records' clock), else on the runner's."""
    out: dict[str, float] = {}
    for fid, run in runs.items():
        starts = [r["started_at"] for r in run.records if r.get("started_at") is not None]
        start = min(starts) if starts else run.started_at
        if start is not None:
            out[fid] = start
    return out


def _timing(plan: Plan, runs: dict[str, FragmentRun], idle_time: str) -> Timing | None:
    """The fragments' times for idle decoherence (``[world] idle_time``)."""
    if idle_time == "none":
        return None
    if idle_time == "planned":
        return planned_timing(plan)
    spans: dict[str, tuple[float, float]] = {}
    for fid, start in _starts(runs).items():
        end = record_end(runs[fid])
        spans[fid] = (start, end if end is not None else start)
    return Timing(spans)


def _last_end(runs: dict[str, FragmentRun]) -> float:
    """When the last fragment ended (the runner's clock: unix time)."""
    return max((r.ended_at for r in runs.values() if r.ended_at is not None), default=time.time())


def critical_path_ms(plan: Plan, runs: dict[str, FragmentRun]) -> float:
    """The simulated operation time the nodes accounted along the longest dependency
    path of the fragment DAG (a remote fragment takes its slower end)."""
    finish: dict[str, float] = {}
    for f in plan.fragments:  # ids are a topological order
        run = runs.get(f.id)
        own = max((r.get("duration_ns", 0.0) for r in run.records), default=0.0) if run else 0.0
        finish[f.id] = max((finish[d] for d in f.depends_on), default=0.0) + own / 1e6
    return max(finish.values(), default=0.0)


def _result(
    job_id: str,
    plan: Plan,
    world: Any,
    runs: dict[str, FragmentRun],
    earlier: list[FragmentRun],
    fallbacks: list[dict[str, Any]],
    times: dict[str, float],
    idle_time: str,
) -> JobResult:
    all_runs = (*earlier, *(runs[f.id] for f in plan.fragments))
    simulated_ms = sum(r.get("duration_ns", 0.0) for run in all_runs for r in run.records) / 1e6
    critical = critical_path_ms(plan, runs)
    per_node: dict[str, int] = {}  # a protocol fragment counts for both its end nodes
    for f in plan.fragments:
        for node in dict.fromkeys(f.nodes):
            per_node[node] = per_node.get(node, 0) + 1
    return JobResult(
        job_id=job_id,
        shots=world.shots,
        counts=world.counts,
        simulated=world.simulated,
        reason=world.reason,
        estimated_fidelity=plan.estimated_fidelity,
        achieved_fidelity=world.achieved_fidelity,
        ebits=plan.ebits,
        plan_digest=plan.digest(),
        fragments=all_runs,
        retries=sum(r.attempts - 1 for r in all_runs),
        fallbacks=tuple(fallbacks),
        wall_ms=times["wall_ms"],
        simulated_ops_ms=simulated_ms,
        orchestration_overhead_ms=max(0.0, times["wall_ms"] - times["compile_ms"] - critical),
        fragments_per_node=dict(sorted(per_node.items())),
        placement=plan.initial_placement,
        compile_ms=times["compile_ms"],
        ideal_outcomes=len(world.ideal),
        fidelity_estimate=plan.fidelity_estimate,
        critical_path_ms=critical,
        simulate_ms=times["simulate_ms"],
        idle_time=idle_time,
        idle_us=world.idle_us,
        executed_qasm3=world.executed_qasm3,
    )
