"""Running a plan on the nodes (FR-005, FR-006, FR-007): reserve, execute in order, retry.

:class:`PlanRunner` takes a compiled :class:`~qorch.plan.Plan` and a
:class:`NodeClient` (how to call a node by name) and

1. **reserves** (``RESERVING``): on every node the plan uses, one job-wide window of the
   qubits the job keeps there (its data qubits at their peak), until the job's deadline.
   A conflict (capacity held by other jobs) is asked again every ``RESERVE_POLL_S`` —
   holders release when their jobs end — until granted or the deadline passes, waiting
   for nodes in name order so that jobs cannot deadlock (:meth:`PlanRunner.reserve`);
2. **executes** (``EXECUTING``): every fragment as soon as all fragments it depends on
   are done, independent ones concurrently. A local fragment is one ``execute`` on its
   node; a remote one (``entangle``, ``disentangle``, ``teleport``) an ``execute`` on both
   of its end nodes at once. Each try is one *attempt* (correlation ids: job, fragment,
   attempt, request); a timeout, a lost connection or a failed execution is retried
   after the :class:`~qorch.runtime.retry.RetryPolicy`'s delay, drawn from the runner's
   seeded rng — a try that got no answer is asked again under the same attempt number
   (the node may have run it: it then answers from its record), one a node answered
   as failed under the next; after the last attempt the job fails with a :class:`FragmentFailed`
   naming the fragment, node, attempts and last error;
3. **releases** every reservation, whatever happened.

Each fragment gets a :class:`FragmentRun`: nodes, start, end, status, attempts, errors
and the nodes' execution records (their delivered fidelity feeds the world simulator).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import attrs
import trio

from qorch.errors import FragmentFailed, ReservationFailed
from qorch.plan import Fragment, Plan
from qorch.runtime.retry import RetryPolicy
from qorch.transport import TransportError
from qorch.wire import message_size

RESERVE_POLL_S = 0.1  # how often a job waiting for a busy node asks it again


class NodeClient(Protocol):
    """How the runner reaches a node by name (the coordinator maps names to peers)."""

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """One request to ``node``; raises :class:`~qorch.transport.TransportError`."""
        ...

    def contact(self, node: str) -> dict[str, Any] | None:
        """How other nodes reach ``node``: ``{"peer_id", "addresses"}`` (``None``: not
        known) — handed to the nodes of a choreographed run (issue 17)."""
        ...


@attrs.define
class Traffic:
    """The control-plane messages of one run (issue 17), counted where they are sent:
    the coordinator's (requests and replies it sent or received, and their bytes as
    JSON), the nodes' among themselves, and the hops (sequential messages) on the
    longest causal chain of the execution, reservations apart."""

    coordinator_messages: int = 0
    coordinator_bytes: int = 0
    peer_messages: int = 0
    peer_bytes: int = 0
    critical_path_hops: int = 0

    def add(self, other: Traffic) -> None:
        """Count ``other``'s messages here too (the chain is the longer of the two)."""
        self.coordinator_messages += other.coordinator_messages
        self.coordinator_bytes += other.coordinator_bytes
        self.peer_messages += other.peer_messages
        self.peer_bytes += other.peer_bytes
        self.critical_path_hops = max(self.critical_path_hops, other.critical_path_hops)


class CountingClient:
    """A :class:`NodeClient` that counts every call through it in a :class:`Traffic`:
    two messages for an answered call, one for a request that got no answer."""

    def __init__(self, inner: NodeClient, traffic: Traffic) -> None:
        self.inner = inner
        self.traffic = traffic

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The inner client's call, counted."""
        self.traffic.coordinator_messages += 1
        self.traffic.coordinator_bytes += message_size(body)
        reply = await self.inner.call(node, verb, body, timeout)
        self.traffic.coordinator_messages += 1
        self.traffic.coordinator_bytes += message_size(reply)
        return reply

    def contact(self, node: str) -> dict[str, Any] | None:
        """The inner client's."""
        return self.inner.contact(node)


@attrs.frozen
class Timeouts:
    """Per-call timeouts by operation class (FR-007), in seconds."""

    reserve: float = 2.0
    execute_local: float = 5.0
    execute_remote: float = 5.0
    release: float = 2.0


@attrs.frozen
class FragmentRun:
    """What happened to one fragment (FR-006)."""

    fragment_id: str
    kind: str
    nodes: tuple[str, ...]
    status: str
    attempts: int
    started_at: float | None
    ended_at: float | None
    errors: tuple[str, ...] = ()
    records: tuple[dict[str, Any], ...] = ()

    @property
    def fidelity_scale(self) -> float:
        """The lowest fidelity scale its nodes reported (1 when none was degraded)."""
        return min((r.get("fidelity_scale", 1.0) for r in self.records), default=1.0)


class _Failures(NamedTuple):
    """A try that failed: the nodes that failed, why, whether none of them answered."""

    nodes: tuple[str, ...]
    message: str
    unanswered: bool


@attrs.frozen
class FragmentEvent:
    """A fragment's state change (FR-006): ``RUNNING`` (attempt ``attempt`` starts),
    ``RETRYING`` (it failed with ``error``; another attempt follows), ``COMPLETED`` or
    ``FAILED`` (with its :class:`FragmentRun`). ``run_id`` is the job id the runner
    talks to the nodes as (``job_id.k`` after ``k`` fallbacks)."""

    run_id: str
    fragment_id: str
    nodes: tuple[str, ...]
    state: str
    attempt: int
    at: float
    error: str | None = None
    run: FragmentRun | None = None


def qubits_per_node(plan: Plan) -> dict[str, int]:
    """Data qubits the job holds on each node it uses, at their peak (teleports move
    them); communication qubits are not part of a node's capacity (decision 0005)."""
    home = list(plan.initial_placement)
    counts = Counter(home)
    peak = dict(counts)
    for f in plan.fragments:
        if f.kind == "teleport":
            q = f.qubits[0]
            counts[home[q]] -= 1
            home[q] = f.nodes[1]
            counts[f.nodes[1]] += 1
            peak[f.nodes[1]] = max(peak.get(f.nodes[1], 0), counts[f.nodes[1]])
    used = {n for f in plan.fragments for n in f.nodes}
    return {n: max(1, peak.get(n, 0)) for n in sorted(used)}


@attrs.frozen
class RunOptions:
    """How a :class:`PlanRunner` runs its plan: the retry policy and timeouts of its calls,
    the seed of its backoff jitter, how long its windows last (``deadline_s``), its clock
    (unix time), ``held``: node -> reservation id of the windows an earlier
    coordinator process was granted for this run (recovery), used again, and
    ``peer_wait_s``: how long a choreographed node waits for a peer before asking it."""

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    timeouts: Timeouts = attrs.field(factory=Timeouts)
    seed: int = 0
    deadline_s: float = 60.0
    clock: Callable[[], float] = time.time
    held: Mapping[str, str] = attrs.field(factory=dict)
    peer_wait_s: float = 2.0


class RunListener(Protocol):
    """What a :class:`PlanRunner` tells its caller (the job, the coordinator) as it runs.

    :class:`QuietListener` ignores every event: subclass it and override what you need.
    """

    async def on_reserved(self, run_id: str, node: str, reservation_id: str) -> None:
        """A window was granted on ``node`` for the run ``run_id``."""
        ...

    async def on_released(self, run_id: str, node: str, reservation_id: str) -> None:
        """The window on ``node`` was given back (or left to expire: no answer)."""
        ...

    async def on_held(self) -> None:
        """Every window the plan needs is held: its fragments start."""
        ...

    async def on_fragment_state(self, event: FragmentEvent) -> None:
        """A fragment changed state (:class:`FragmentEvent`)."""
        ...

    def keep_windows(self) -> bool:
        """Whether a run cancelled now keeps its windows held (a coordinator shutting down:
        its successor resumes the job with them) instead of giving them back."""
        ...


class QuietListener:
    """A :class:`RunListener` that ignores every event and never keeps windows."""

    async def on_reserved(self, run_id: str, node: str, reservation_id: str) -> None:
        """Nothing."""

    async def on_released(self, run_id: str, node: str, reservation_id: str) -> None:
        """Nothing."""

    async def on_held(self) -> None:
        """Nothing."""

    async def on_fragment_state(self, event: FragmentEvent) -> None:
        """Nothing."""

    def keep_windows(self) -> bool:
        """Never: a cancelled run gives its windows back."""
        return False


class PlanRunner:
    """Reserves, executes and releases one plan (see the module docstring) as ``job_id``
    through ``client``, as ``options`` say, telling ``listener`` what happens: the
    ``centralized`` orchestration's hub, which dispatches every fragment itself and
    hears back from every node (issue 17). ``traffic`` counts its messages."""

    def __init__(
        self,
        plan: Plan,
        job_id: str,
        client: NodeClient,
        options: RunOptions | None = None,
        listener: RunListener | None = None,
    ) -> None:
        self.plan = plan
        self.job_id = job_id
        self.traffic = Traffic()
        self.client = CountingClient(client, self.traffic)
        self.options = options or RunOptions()
        self.listener = listener or QuietListener()
        self.rng = random.Random(self.options.seed)
        # node -> reservation id; given ones were granted to an earlier coordinator process
        self.reservations: dict[str, str] = dict(self.options.held)
        self.runs: dict[str, FragmentRun] = {}
        self.window_end = 0.0  # when the windows this run asked for end (unix time)
        self._hops: dict[str, int] = {}  # per fragment: hops on the chain it ends
        self._requests = 0

    def _correlation(self, fragment: str, attempt: int) -> dict[str, Any]:
        self._requests += 1
        return {
            "job_id": self.job_id,
            "fragment_id": fragment,
            "attempt": attempt,
            "request_id": f"{self.job_id}-{fragment}-{attempt}-{self._requests}",
        }

    # -- reserving -------------------------------------------------------------------------

    async def reserve(self) -> None:
        """Hold the job's qubits on every node it uses until the deadline (FR-005).

        Deadlock-free: hold-and-wait happens in one global order (node names). First
        every node is asked once, all at once; when some refuse (capacity held by other
        jobs), the windows this try got on nodes after the first refusing one are given
        back, and the rest are asked one by one in name order, each waited for. A job
        therefore only waits for a node while holding nodes before it, so no two jobs wait
        for each other. Windows granted to an earlier coordinator process (recovery) are
        kept as they are.
        """
        start = self.options.clock()
        end = self.window_end = start + self.options.deadline_s
        need = {n: q for n, q in qubits_per_node(self.plan).items() if n not in self.reservations}
        refused: list[str] = []

        async def try_once(node: str) -> None:
            if await self._ask(node, need[node], start, end) is not None:
                refused.append(node)

        async with trio.open_nursery() as nursery:
            for node in need:
                nursery.start_soon(try_once, node)
        if not refused:
            return
        first = min(refused)
        await self._cancel([n for n in sorted(need) if n > first and n in self.reservations])
        for node in sorted(need):
            if node >= first:
                await self._reserve_on(node, need[node], end)

    async def _ask(
        self, node: str, qubits: int, window_start: float, end: float
    ) -> dict[str, Any] | None:
        """One reservation request: ``None`` when granted, the node's answer when it
        refused for a conflict; any other refusal raises :class:`ReservationFailed`."""
        body = {
            "correlation": self._correlation("*", 0),
            "operation": "job",
            "qubits": qubits,
            "start": window_start,
            "duration_s": max(end - window_start, 1e-3),
            "min_fidelity": self.plan.min_fidelity,
        }
        try:
            reply = await self.call_retried(node, "reserve", body, self.options.timeouts.reserve)
        except TransportError as exc:
            attempts = self.options.retry.attempts
            raise ReservationFailed(
                node, f"did not answer the reservation ({attempts} tries): {exc}"
            ) from None
        if reply.get("ok"):
            self.reservations[node] = reply["reservation"]["reservation_id"]
            await self.listener.on_reserved(self.job_id, node, self.reservations[node])
            return None
        error: dict[str, Any] = reply.get("error", {})
        if error.get("code") != "conflict":
            raise ReservationFailed(
                node,
                f"refused to hold {qubits} qubits: {error.get('code')}: {error.get('message')}",
            )
        return error

    async def call_retried(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """``verb`` to ``node``, asked again after a lost call (the retry policy's seeded
        backoff, as for fragments; the verbs it serves are idempotent: a node gives a job
        its window again, not a second one). The last :class:`TransportError` when every
        try went unanswered."""
        retry = self.options.retry
        delays = retry.delays(self.rng)
        for attempt in range(retry.attempts):
            try:
                return await self.client.call(node, verb, body, timeout)
            except TransportError:
                if attempt + 1 == retry.attempts:
                    raise
                await trio.sleep(next(delays))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _reserve_on(self, node: str, qubits: int, end: float) -> None:
        """Ask ``node`` until it grants the window or the deadline passes."""
        while (conflict := await self._ask(node, qubits, self.options.clock(), end)) is not None:
            if self.options.clock() + RESERVE_POLL_S >= end:
                raise ReservationFailed(
                    node, f"refused to hold {qubits} qubits until the deadline: it is busy"
                )
            # the holders may release before their windows end: ask again soon, not only then
            nxt = conflict.get("next_window")
            soonest = nxt["start"] - self.options.clock() if nxt else RESERVE_POLL_S
            await trio.sleep(min(max(0.0, soonest), RESERVE_POLL_S))

    async def _cancel(self, nodes: list[str]) -> None:
        """Give back the windows held on ``nodes`` (shielded: it runs even on failure)."""
        with trio.CancelScope(shield=True):
            for node in nodes:
                rid = self.reservations.pop(node)
                body = {"correlation": self._correlation("*", 0), "reservation_id": rid}
                # an unreleased window expires on its own at the deadline
                with contextlib.suppress(TransportError):
                    await self.client.call(node, "cancel", body, self.options.timeouts.release)
                await self.listener.on_released(self.job_id, node, rid)

    async def release(self) -> None:
        """Cancel every reservation this job holds."""
        await self._cancel(list(self.reservations))

    # -- executing ---------------------------------------------------------------------------

    async def run(self) -> dict[str, FragmentRun]:
        """Reserve, execute every fragment in dependency order, release; the runs by id."""
        try:
            try:
                await self.reserve()
                await self.listener.on_held()
                await self.execute()
            except BaseExceptionGroup as group:  # the first failure cancels the rest
                failed = group.subgroup((FragmentFailed, ReservationFailed))
                if failed is None:
                    raise
                raise _leaves(failed)[0] from None
        except BaseException as exc:  # Cancelled, alone or grouped by a nursery
            cancelled = isinstance(exc, trio.Cancelled) or (
                isinstance(exc, BaseExceptionGroup) and exc.subgroup(trio.Cancelled) is not None
            )
            if cancelled and self.listener.keep_windows():
                self.reservations.clear()  # a coordinator shutting down keeps them held
            raise
        finally:
            await self.release()
        return self.runs

    async def execute(self) -> None:
        """Every fragment, each as soon as its predecessors are done: dispatched by this
        runner to its nodes, their answers back to it (a star: the hub)."""
        done = {f.id: trio.Event() for f in self.plan.fragments}
        async with trio.open_nursery() as nursery:
            for f in self.plan.fragments:
                nursery.start_soon(self._fragment, f, done)

    async def _fragment(self, f: Fragment, done: dict[str, trio.Event]) -> None:
        for dep in f.depends_on:
            await done[dep].wait()
        hops = max((self._hops[d] for d in f.depends_on), default=0)
        nodes = f.nodes if f.kind != "local" else (f.node,)
        retry, clock, timeouts = self.options.retry, self.options.clock, self.options.timeouts
        timeout = timeouts.execute_local if f.kind == "local" else timeouts.execute_remote
        ops = wire_ops(f)
        delays = retry.delays(self.rng)
        errors: list[str] = []
        failed: tuple[str, ...] = nodes
        started = clock()
        wire = 0  # the attempt number the nodes see (their idempotency key)
        for attempt in range(retry.attempts):
            await self._event(f.id, nodes, "RUNNING", attempt)
            outcome = await self._attempt(f, nodes, ops, wire, timeout)
            hops += 2  # the hub's request to the nodes and their answers
            if not isinstance(outcome, _Failures):
                self._hops[f.id] = hops
                self.traffic.critical_path_hops = max(self.traffic.critical_path_hops, hops)
                run = FragmentRun(
                    f.id, f.kind, nodes, "ok", attempt + 1, started, clock(),
                    tuple(errors), outcome,
                )  # fmt: skip
                self.runs[f.id] = run
                await self._event(f.id, nodes, "COMPLETED", attempt, run=run)
                done[f.id].set()
                return
            failed, message, unanswered = outcome
            errors.append(message)
            if not unanswered:
                # a node answered that it failed: the next try is a new attempt. A lost
                # or late answer is not: the node may have run it, so the same attempt
                # is asked again and a node that ran it answers from its record (FR-010)
                wire += 1
            if attempt + 1 < retry.attempts:
                await self._event(f.id, nodes, "RETRYING", attempt, error=message)
                await trio.sleep(next(delays))
        run = FragmentRun(
            f.id, f.kind, nodes, "failed", retry.attempts, started, clock(),
            tuple(errors),
        )  # fmt: skip
        self.runs[f.id] = run
        await self._event(f.id, nodes, "FAILED", retry.attempts - 1, errors[-1], run)
        raise FragmentFailed(f.id, nodes, retry.attempts, errors[-1], failed)

    async def _attempt(
        self, f: Fragment, nodes: tuple[str, ...], ops: list[dict[str, Any]], attempt: int,
        timeout: float,
    ) -> tuple[dict[str, Any], ...] | _Failures:  # fmt: skip
        """One try on every node of the fragment: the records, or (the nodes that failed,
        why, whether every failure was a call that got no answer)."""
        records: list[dict[str, Any] | str] = [""] * len(nodes)
        answered: list[bool] = [True] * len(nodes)

        async def one(i: int, node: str) -> None:
            body = {
                "correlation": self._correlation(f.id, attempt),
                "reservation_id": self.reservations[node],
                "ops": ops if i == 0 else [],
            }
            try:
                reply = await self.client.call(node, "execute", body, timeout)
            except TransportError as exc:
                records[i], answered[i] = f"{node}: {exc.code}: {exc}", False
                return
            if not reply.get("ok"):
                err = reply.get("error", {})
                records[i] = f"{node}: {err.get('code')}: {err.get('message')}"
            elif reply["record"].get("status") != "ok":
                records[i] = f"{node}: execution failed: {reply['record'].get('error')}"
            else:
                records[i] = reply["record"]

        async with trio.open_nursery() as nursery:
            for i, node in enumerate(nodes):
                nursery.start_soon(one, i, node)
        failures = [i for i, r in enumerate(records) if isinstance(r, str)]
        if failures:
            unanswered = not any(answered[i] for i in failures)
            message = "; ".join(str(records[i]) for i in failures)
            return _Failures(tuple(nodes[i] for i in failures), message, unanswered)
        return tuple(r for r in records if isinstance(r, dict))

    async def _event(
        self,
        fragment: str,
        nodes: tuple[str, ...],
        state: str,
        attempt: int,
        error: str | None = None,
        run: FragmentRun | None = None,
    ) -> None:
        event = FragmentEvent(
            self.job_id, fragment, nodes, state, attempt, self.options.clock(), error, run
        )
        await self.listener.on_fragment_state(event)


def wire_ops(f: Fragment) -> list[dict[str, Any]]:
    """The operations a node is asked to run for ``f``: each in the node's native gates
    (an operation the compiler translated becomes its native gates, on its qubits)."""
    out: list[dict[str, Any]] = []
    for op in f.ops:
        if not op.native:
            out.append({"name": op.name, "qubits": list(op.qubits), "params": list(op.params)})
            continue
        out.extend(  # the plan holds them on the circuit's qubits already
            {"name": g["name"], "qubits": list(g["qubits"]), "params": list(g.get("params", ()))}
            for g in op.native
        )
    return out


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def fidelity_scales(runs: dict[str, FragmentRun], topology: Any = None) -> dict[str, float]:
    """Per fragment, the fidelity scale its nodes delivered beyond what ``topology`` (the
    plan's snapshot) already says: a node whose advert carried a degradation
    (``NodeSpec.fidelity_scale``) is not degraded twice (for the world simulator)."""
    advertised = (
        {n.name: getattr(n, "fidelity_scale", 1.0) for n in topology.nodes} if topology else {}
    )
    out: dict[str, float] = {}
    for fid, run in runs.items():
        scales = [
            r.get("fidelity_scale", 1.0) / advertised.get(r.get("node", ""), 1.0)
            for r in run.records
        ]
        scale = min(scales, default=1.0)
        if math.isfinite(scale):
            out[fid] = scale
    return out
