"""The coordinator's job queue and state machine (FR-006, FR-009, FR-010), in process;
the state machine's invariants are property-tested (NFR-004).

In-process node services and the memory store: every job an observer hears about walks a
legal path of :data:`~qorch.model.JOB_TRANSITIONS` to a terminal state, each transition is
in the store before it is announced, a cancelled queued job fails with ``cancelled`` and
is never run, and recovery queues exactly the unfinished jobs.
"""

from __future__ import annotations

import datetime as dt

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qorch.builtin.default_node_type import Simulated
from qorch.config import RuntimeSettings, Settings
from qorch.coordinator.jobs import JobService
from qorch.coordinator.submission import Submission
from qorch.hookspecs import hookimpl
from qorch.model import JOB_TRANSITIONS, JobRecord, JobState
from qorch.node.service import NodeService
from qorch.plugins import PluginSystem
from qorch.testing.memory_store import MemoryStore
from qorch.testing.node_client import DirectClient
from qorch.topology import load_topology
from tests.conftest import REPO

TOPOLOGY = load_topology(REPO / "examples" / "topologies" / "two-nodes.toml")
BELL = (REPO / "examples" / "circuits" / "bell.qasm").read_text()
GHZ = (REPO / "examples" / "circuits" / "ghz5.qasm").read_text()
BAD = "OPENQASM 2.0;\nqreg q[1];\nfrobnicate q[0];\n"


class Observer:
    """Records every announced transition and the stored state at that moment."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.seen: list[tuple[str, str | None, str, str]] = []
        self.fragments: list[tuple[str, str, str, str, dict]] = []

    @hookimpl
    def qorch_on_job_state(self, job_id, old, new, at, detail):
        self.seen.append((job_id, old, new, self.store.get_job(job_id).state.value))

    @hookimpl
    def qorch_on_fragment_state(self, job_id, fragment_id, node, state, at, detail):
        self.fragments.append((job_id, fragment_id, node, state, detail))


def new_store() -> MemoryStore:
    store = MemoryStore()
    store.open()
    store.upgrade()
    return store


def service_with(store: MemoryStore) -> tuple[JobService, Observer]:
    observer = Observer(store)
    plugins = PluginSystem(
        Settings(runtime=RuntimeSettings(shots=200, plan_wait_s=0.0, orchestration="centralized")),
        extra=[("observer", observer)],
    )
    nodes = {n.name: NodeService(n, Simulated()) for n in TOPOLOGY.nodes}
    service = JobService(store, plugins, DirectClient(nodes), lambda: TOPOLOGY, concurrency=2)
    return service, observer


async def run_until_ended(service: JobService, ids: list[str]) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service.run)
        with trio.fail_after(60):
            while not all(service.store.get_job(j).state.terminal for j in ids):
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([BELL, GHZ, BAD]), min_size=1, max_size=5))
def test_every_job_walks_a_legal_path_persisted_before_it_is_announced(sources):
    store = new_store()
    service, observer = service_with(store)

    async def main() -> list[str]:
        ids = [
            (await service.submit(Submission(qasm=s, seed=i))).job_id for i, s in enumerate(sources)
        ]
        await run_until_ended(service, ids)
        return ids

    ids = trio.run(main)
    for job_id, source in zip(ids, sources, strict=True):
        path = [(old, new, stored) for j, old, new, stored in observer.seen if j == job_id]
        assert path[0][:2] == (None, "QUEUED")
        for old, new, stored in path:
            assert stored == new  # persisted before announced
            if old is not None:
                assert JobState(new) in JOB_TRANSITIONS[JobState(old)]
        final = store.get_job(job_id)
        assert final.state.terminal and path[-1][1] == final.state.value
        if source is BAD:
            assert final.state is JobState.FAILED and final.error["line"] == 3
        else:
            assert final.state is JobState.COMPLETED
            assert [p[1] for p in path] == [s.value for s in JobState if s is not JobState.FAILED]


def test_a_cancelled_queued_job_fails_as_cancelled_and_never_runs():
    store = new_store()
    service, observer = service_with(store)

    async def main() -> str:
        job = await service.submit(Submission(qasm=BELL, seed=0))
        await service.cancel(job.job_id)
        await run_until_ended(service, [job.job_id])
        return job.job_id

    job_id = trio.run(main)
    final = store.get_job(job_id)
    assert final.state is JobState.FAILED and final.error["kind"] == "cancelled"
    assert [new for j, _o, new, _s in observer.seen if j == job_id] == ["QUEUED", "FAILED"]
    assert store.list_fragments(job_id) == []


def test_recovery_queues_the_unfinished_jobs_only_and_completes_them():
    store = new_store()
    now = dt.datetime.now(dt.UTC)
    for i, state in enumerate([JobState.QUEUED, JobState.EXECUTING, JobState.COMPLETED]):
        store.add_job(JobRecord(f"j{i}", JobState.QUEUED, now, now, request={"qasm": BELL}))
        path = [s for s in JobState if s is not JobState.FAILED]
        for s in path[1 : path.index(state) + 1]:
            store.transition_job(f"j{i}", s, at=now)
    service, _observer = service_with(store)

    async def main() -> list[str]:
        recovered = await service.recover()
        await run_until_ended(service, recovered)
        return recovered

    assert trio.run(main) == ["j0", "j1"]
    assert all(store.get_job(j).state is JobState.COMPLETED for j in ("j0", "j1", "j2"))
    assert store.get_job("j2").result is None  # the ended job was left alone


def test_fragment_states_are_announced_and_their_records_stored():
    """FR-006: every fragment is announced RUNNING on its node(s), then COMPLETED; its
    record is stored as it finishes (the runner's tests check dependency order)."""
    store = new_store()
    service, observer = service_with(store)

    async def main() -> str:
        job = await service.submit(Submission(qasm=GHZ, seed=3, strategy="greedy"))
        await run_until_ended(service, [job.job_id])
        await service.recorder.flush()
        return job.job_id

    job_id = trio.run(main)
    result = store.get_job(job_id).result
    plan = {f["fragment_id"]: f for f in result["fragments"]}
    events = [(f, state, node) for j, f, node, state, _d in observer.fragments if j == job_id]
    assert [s for f, s, _n in events if s == "COMPLETED"] and set(plan) == {f for f, *_ in events}
    completed_at = {f: i for i, (f, s, _n) in enumerate(events) if s == "COMPLETED"}
    for i, (fragment, state, node) in enumerate(events):
        if state == "RUNNING":
            assert node == ",".join(plan[fragment]["nodes"])
            assert i < completed_at[fragment]
    assert len([e for e in events if e[1] == "RUNNING"]) == len(plan)  # no retries here
    stored = {f.fragment_id: f for f in store.list_fragments(job_id)}
    assert set(stored) == set(plan) and all(f.status == "ok" for f in stored.values())
    assert all(stored[f].node == ",".join(plan[f]["nodes"]) for f in plan)
