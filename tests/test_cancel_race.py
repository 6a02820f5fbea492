"""A cancel cannot race a job's completion (FR-009, FR-010): a property test over
interleavings.

A real :class:`~qorch.coordinator.jobs.JobService` on the real SQLite store (a temporary
directory) runs one three-qubit GHZ job split over two in-process nodes of two qubits
(five fragments, one of them remote) through :class:`~qorch.testing.node_client.DirectClient`.
Two gates, doubles of this test, hold the job back: every fragment attempt's ``execute``
waits at the ``fragment`` gate, and the job, once its fragments ran and its world was
simulated, waits at the ``complete`` gate before it writes ``COMPLETED``. Hypothesis
draws a sequence of steps, each followed by the system settling (the job waits at a gate,
or it ended and its worker stopped):

- ``fragment``: one waiting fragment attempt runs;
- ``complete``: the waiting job goes on to write ``COMPLETED``;
- ``cancel``: a client's cancel (what the API answers 200 or 409);
- ``race``: ``complete`` and ``cancel`` at the same moment (their writes race in threads);
- ``cancel-in-write``: ``complete``, with a cancel run inside the job's ``COMPLETED``
  write, just before the store's compare-and-set (or inside the next one, if none is
  under way: after a restart, or once every gate opened);
- ``restart``: the coordinator stops as on SIGTERM (running jobs keep their state and
  windows), the store is closed and opened again, and a new service recovers.

Then every gate opens and the job runs to its end. Invariants: the job ends ``COMPLETED``
xor ``FAILED`` with error kind ``cancelled``; a cancel answered as cancelling (200) means
``FAILED``/``cancelled`` and at most one cancel does; a refused one (409) reports the
job's final state; a cancelled job runs no fragment once its cancel settled; every
announced transition is legal and no error is logged (no illegal transition is
attempted, no worker crashes); no node holds a window and the store holds none of the
job's windows as granted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger

from qorch.builtin.default_node_type import Simulated
from qorch.config import RuntimeSettings, Settings
from qorch.coordinator.jobs import CancelOutcome, JobService
from qorch.coordinator.server import open_store
from qorch.coordinator.submission import Submission
from qorch.hookspecs import hookimpl
from qorch.model import JOB_TRANSITIONS, JobState
from qorch.node.service import NodeService
from qorch.plugins import PluginSystem
from qorch.runtime.job import JobResult, run_job
from qorch.testing.node_client import DirectClient
from qorch.topology import load_topology
from tests.conftest import REPO

GHZ3 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nmeasure q -> c;\n'  # noqa: E501
SHOTS = 100
STEPS = ("fragment", "complete", "cancel", "race", "cancel-in-write", "restart")


def tiny_topology(tmp: Path) -> Any:
    """Two ideal nodes of two qubits: the GHZ job needs both."""
    text = (REPO / "examples" / "topologies" / "noiseless-two-nodes.toml").read_text()
    path = tmp / "tiny.toml"
    path.write_text(text.replace("qubits = 16", "qubits = 2"))
    return load_topology(path)


class Gates:
    """Where the job waits for the test: ``fragment`` and ``complete`` (module docstring)."""

    def __init__(self) -> None:
        self.waiting = {"fragment": 0, "complete": 0}
        self.tokens = {"fragment": 0, "complete": 0}
        self.opened = False
        self._changed = trio.Event()

    async def through(self, gate: str) -> None:
        """Wait until the test lets one through (or opens every gate)."""
        self.waiting[gate] += 1
        try:
            while not self.opened and not self.tokens[gate]:
                await self._changed.wait()
            if not self.opened:
                self.tokens[gate] -= 1
        finally:
            self.waiting[gate] -= 1

    def let_one(self, gate: str) -> None:
        """Let one waiter of ``gate`` through; nothing if none waits."""
        if self.waiting[gate] > self.tokens[gate]:
            self.tokens[gate] += 1
            self._poke()

    def open_all(self) -> None:
        """Let everything through from now on."""
        self.opened = True
        self._poke()

    @property
    def held(self) -> bool:
        """Whether the job waits at a gate."""
        return any(self.waiting[g] > self.tokens[g] for g in self.waiting)

    @property
    def where(self) -> str | None:
        """The gate the job waits at (``complete`` first), if any."""
        held = [g for g in ("complete", "fragment") if self.waiting[g] > self.tokens[g]]
        return held[0] if held else None

    def _poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


class GatedClient(DirectClient):
    """A :class:`DirectClient` whose fragment attempts wait at the ``fragment`` gate (the
    call that carries the operations: one per attempt, also for a remote fragment)."""

    def __init__(self, services: dict[str, NodeService], gates: Gates) -> None:
        super().__init__(services)
        self.gates = gates

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Wait at the gate first when this is an attempt's ``execute``."""
        if verb == "execute" and body.get("ops"):
            await self.gates.through("fragment")
        return await super().call(node, verb, body, timeout)


class Transitions:
    """Every announced job transition (``qorch_on_job_state``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str]] = []

    @hookimpl
    def qorch_on_job_state(self, job_id, old, new, at, detail):
        self.seen.append((old, new))


class CancelInWrite:
    """The store, wrapped: when armed, the worker's ``COMPLETED`` write first runs a
    cancel (from its thread, to the end) and only then the store's compare-and-set — a
    cancel that lands after the job decided to complete and before its write."""

    def __init__(self, store: Any, coordinator: Coordinator) -> None:
        self._store, self._coordinator = store, coordinator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def transition_job(self, job_id: str, new: JobState, **fields: Any) -> Any:
        """The store's, after the armed cancel when ``new`` is ``COMPLETED``."""
        if new is JobState.COMPLETED and self._coordinator.armed:
            self._coordinator.armed = False
            trio.from_thread.run(self._coordinator.cancel, job_id, "write")
        return self._store.transition_job(job_id, new, **fields)


class Coordinator:
    """A job service on the store of ``data_dir``, restartable like the real one, and the
    cancels sent to it."""

    def __init__(self, data_dir: Path, nursery: trio.Nursery, gates: Gates, topology: Any):
        self.data_dir, self.nursery, self.gates = data_dir, nursery, gates
        self.transitions = Transitions()
        self.plugins = PluginSystem(
            Settings(
                runtime=RuntimeSettings(
                    shots=SHOTS, plan_wait_s=0.0, orchestration="centralized"
                )  # the race is with the hub's COMPLETED write
            ),
            extra=[("transitions", self.transitions)],
        )
        self.topology = topology
        self.nodes = {n.name: NodeService(n, Simulated()) for n in topology.nodes}
        self.service: JobService | None = None
        self.armed = False  # a cancel waits for the next COMPLETED write (CancelInWrite)
        self.outcomes: list[CancelOutcome] = []
        self.met: list[str | None] = []  # where each cancel met the job
        self._stop: trio.CancelScope | None = None
        self._stopped = trio.Event()

    async def gated_run(self, *args: Any, **kwargs: Any) -> JobResult:
        """:func:`run_job`, then the ``complete`` gate."""
        result = await run_job(*args, **kwargs)
        await self.gates.through("complete")
        return result

    async def cancel(self, job_id: str, where: str | None) -> None:
        """A client's cancel; its outcome, and where it met the job, are kept."""
        assert self.service is not None
        self.met.append(where)
        self.outcomes.append(await self.service.cancel(job_id))

    @property
    def executions(self) -> int:
        """Fragments the nodes ran (a repeat answered from a record is not one)."""
        return sum(n.executions for n in self.nodes.values())

    async def start(self) -> JobService:
        """Open the store, recover its unfinished jobs and run the workers."""
        store = await trio.to_thread.run_sync(open_store, self.plugins, self.data_dir)
        self.service = JobService(
            CancelInWrite(store, self),
            self.plugins,
            GatedClient(self.nodes, self.gates),
            lambda: self.topology,
            concurrency=2,
            run_job=self.gated_run,
        )
        await self.service.recover()
        self._stop, self._stopped = trio.CancelScope(), trio.Event()
        self.nursery.start_soon(self._serve, self.service, self._stop, self._stopped)
        return self.service

    async def _serve(self, service: JobService, stop: trio.CancelScope, done: trio.Event):
        with stop:
            await service.run()
        done.set()

    async def stop(self) -> None:
        """Stop as on SIGTERM: jobs keep state and windows; the store is closed."""
        assert self.service is not None and self._stop is not None
        self.service.stopping = True
        self._stop.cancel()
        await self._stopped.wait()
        await self.service.recorder.flush()
        await trio.to_thread.run_sync(self.service.store.close)

    async def settle(self, job_id: str) -> None:
        """Wait until the job waits at a gate, or it ended and its worker stopped."""
        assert self.service is not None
        with trio.fail_after(60):
            while True:
                await trio.testing.wait_all_tasks_blocked(0.005)
                job = await trio.to_thread.run_sync(self.service.store.get_job, job_id)
                if self.gates.held or (job.state.terminal and self.service.running == 0):
                    return
                await trio.sleep(0.005)


async def play(data_dir: Path, steps: list[str]) -> dict[str, Any]:
    """Run one job through ``steps``, then to its end; what the invariants need."""
    gates = Gates()
    ran_at_cancel = None  # fragments the nodes ran, once a cancel won and it settled
    async with trio.open_nursery() as nursery:
        coordinator = Coordinator(data_dir, nursery, gates, tiny_topology(data_dir.parent))
        service = await coordinator.start()
        job_id = (await service.submit(Submission(qasm=GHZ3, seed=3, shots=SHOTS))).job_id
        for step in steps:  # the first one meets the job wherever the worker got to
            if step in ("fragment", "complete"):
                gates.let_one(step)
            elif step == "cancel":
                await coordinator.cancel(job_id, gates.where)
            elif step == "race":
                where = gates.where
                gates.let_one("complete")
                await coordinator.cancel(job_id, where)
            elif step == "cancel-in-write":  # at the next COMPLETED write, if any
                coordinator.armed = True
                gates.let_one("complete")
            elif step == "restart":
                await coordinator.stop()
                service = await coordinator.start()
            await coordinator.settle(job_id)
            if ran_at_cancel is None and any(o.cancelled for o in coordinator.outcomes):
                ran_at_cancel = coordinator.executions
        gates.open_all()
        await coordinator.settle(job_id)
        final = await trio.to_thread.run_sync(service.store.get_job, job_id)
        granted = await trio.to_thread.run_sync(
            lambda: service.store.list_reservations(job_id=job_id, state="granted")
        )
        await coordinator.stop()
    return {
        "final": final,
        "outcomes": coordinator.outcomes,
        "met": coordinator.met,
        "transitions": coordinator.transitions.seen,
        "held": {n: len(s.book.active()) for n, s in coordinator.nodes.items()},
        "granted": granted,
        "ran": (ran_at_cancel, coordinator.executions),
    }


def run_steps(steps: list[str]) -> dict[str, Any]:
    """:func:`play` in a fresh directory, with the error-level log lines it wrote."""
    errors: list[str] = []
    sink = logger.add(lambda m: errors.append(str(m)), level="ERROR")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seen = trio.run(play, Path(tmp) / "data", steps)
    finally:
        logger.remove(sink)
    return {**seen, "errors": errors}


def check_invariants(seen: dict[str, Any]) -> None:
    """The invariants of the module docstring."""
    final, outcomes = seen["final"], seen["outcomes"]
    # COMPLETED xor FAILED/cancelled (nothing else can fail on ideal in-process nodes)
    assert final.state in (JobState.COMPLETED, JobState.FAILED)
    cancelled = final.state is JobState.FAILED
    if cancelled:
        assert final.error["kind"] == "cancelled" and final.result is None
    else:
        assert sum(final.result["counts"].values()) == SHOTS
    # 200: FAILED/cancelled, and only one cancel ever wins; 409: the final state
    winners = [o for o in outcomes if o.cancelled]
    assert len(winners) <= 1 and bool(winners) == cancelled
    for o in winners:
        assert o.job.state is JobState.FAILED and o.job.error["kind"] == "cancelled"
    for o in outcomes:
        if not o.cancelled:
            assert o.job.state.terminal and o.job.state is final.state
    # a cancelled job runs no fragment once the cancel settled (the rest are stopped)
    at_cancel, at_end = seen["ran"]
    assert at_cancel is None or at_end == at_cancel
    # no illegal transition was attempted: every announced one is legal, one ends the
    # job, and nothing was logged as an error (a refused write, a crashed worker)
    for old, new in seen["transitions"]:
        assert old is None or JobState(new) in JOB_TRANSITIONS[JobState(old)], (old, new)
    assert [n for _, n in seen["transitions"] if JobState(n).terminal] == [final.state.value]
    assert seen["errors"] == []
    # every window given back, on the nodes and in the store
    assert seen["held"] == {"ideal-a": 0, "ideal-b": 0}
    assert seen["granted"] == []


#: fragment steps are drawn more often, so that many sequences reach the completion
WEIGHTED_STEPS = st.sampled_from(["fragment"] * 4 + list(STEPS[1:]) + ["complete"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(WEIGHTED_STEPS, max_size=16))
def test_cancel_and_completion_never_both_win_whatever_the_interleaving(steps):
    check_invariants(run_steps(steps))


def test_a_cancel_that_loses_to_completion_answers_with_completed():
    """All fragments, the completion, then a cancel: the 409 case."""
    seen = run_steps(["fragment"] * 5 + ["complete", "cancel"])
    check_invariants(seen)
    assert seen["met"] == [None]
    assert seen["final"].state is JobState.COMPLETED
    assert [(o.cancelled, o.job.state) for o in seen["outcomes"]] == [(False, JobState.COMPLETED)]


def test_a_cancel_just_before_the_completion_write_wins_and_the_result_is_dropped():
    """The job waits at the completion with every fragment run: a cancel then is a 200
    and the job never completes."""
    seen = run_steps(["fragment"] * 5 + ["cancel", "complete", "cancel"])
    check_invariants(seen)
    assert seen["met"][0] == "complete"
    assert seen["final"].state is JobState.FAILED
    assert [o.cancelled for o in seen["outcomes"]] == [True, False]


def test_a_cancel_inside_the_completion_write_wins_and_the_write_is_refused_quietly():
    """The cancel lands after the job decided to complete, before its compare-and-set:
    the cancel wins (200), the completion is refused, the worker stops without an
    error and the job stays FAILED/cancelled."""
    seen = run_steps(["fragment"] * 5 + ["cancel-in-write"])
    check_invariants(seen)
    assert seen["met"] == ["write"] and [o.cancelled for o in seen["outcomes"]] == [True]
    assert seen["final"].state is JobState.FAILED


def test_a_cancel_racing_the_completion_write_has_one_winner():
    """The completion and a cancel let go at once, their writes racing in threads: either
    may win, never both (repeated; both orders are valid)."""
    for _ in range(5):
        seen = run_steps(["fragment"] * 5 + ["race"])
        check_invariants(seen)
        assert seen["met"] == ["complete"] and len(seen["outcomes"]) == 1


def test_a_cancel_after_a_restart_ends_the_recovered_job_and_it_stays_ended():
    """A restart mid-run, a cancel of the recovered job, a second restart: the job is not
    resumed again (FR-010), and the windows it held across the restart are back."""
    seen = run_steps(["fragment", "fragment", "restart", "cancel", "restart", "cancel"])
    check_invariants(seen)
    assert seen["final"].state is JobState.FAILED
    assert [(o.cancelled, o.job.state) for o in seen["outcomes"]] == [
        (True, JobState.FAILED),
        (False, JobState.FAILED),
    ]
