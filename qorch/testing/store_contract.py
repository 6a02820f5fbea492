"""Contract tests for the store kind (FR-010), run against every store.

Subclass :class:`StoreContract` in a test module and provide a ``make_store`` fixture
returning a factory of *opened but not upgraded* stores::

    class TestMine(StoreContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: open_my_store(tmp_path)

``tests/test_store_contract.py`` does this for every installed store and the memory
double, so a store from a plugin pack is held to the same behaviour.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Iterator

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qorch.errors import StoreError, TransitionRefused
from qorch.model import (
    AdvertRecord,
    ApiKeyRecord,
    FragmentRecord,
    JobRecord,
    JobState,
    MetricSample,
    QualityReport,
    ReservationRecord,
    can_transition,
)
from qorch.store import Store

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
_ids = itertools.count()
TERMINAL = (JobState.COMPLETED, JobState.FAILED)


def at(seconds: float) -> dt.datetime:
    """``T0`` plus ``seconds``."""
    return T0 + dt.timedelta(seconds=seconds)


def job(job_id: str, created: float = 0.0, state: JobState = JobState.QUEUED) -> JobRecord:
    """A job record with a small request payload."""
    return JobRecord(
        job_id=job_id,
        state=state,
        created_at=at(created),
        updated_at=at(created),
        request={"qasm": "OPENQASM 3.0;", "shots": 100, "nested": {"a": [1, 2.5, None]}},
    )


def held(store: Store, job_id: str) -> JobRecord:
    """The job ``job_id`` as ``store`` holds it (the test fails if it holds none)."""
    record = store.get_job(job_id)
    assert record is not None, f"no job {job_id!r}"
    return record


def reservation(
    rid: str, node: str = "n1", start: float = 0.0, state: str = "GRANTED"
) -> ReservationRecord:
    """A reservation record."""
    return ReservationRecord(
        reservation_id=rid,
        job_id="j1",
        fragment_id="f0",
        attempt=1,
        node=node,
        operation="execute",
        window_start=at(start),
        window_end=at(start + 1),
        min_fidelity=0.9,
        state=state,
        expires_at=at(start + 5),
        created_at=at(0),
    )


def api_key(name: str, roles: tuple[str, ...] = ("read",), created: float = 0.0) -> ApiKeyRecord:
    """An API key record whose (fake) hash and prefix follow from ``name``."""
    return ApiKeyRecord(
        name=name,
        key_hash=f"{name:0>64}"[-64:],
        roles=roles,
        created_at=at(created),
        prefix=f"qk_{name}"[:8],
    )


class StoreContract:
    """Behaviour every :class:`~qorch.store.Store` must have."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:  # pragma: no cover - subclasses provide it
        raise NotImplementedError

    @pytest.fixture
    def store(self, make_store: Callable[[], Store]) -> Iterator[Store]:
        s = make_store()
        s.upgrade()
        yield s
        s.close()

    # -- schema -------------------------------------------------------------------------

    def test_new_store_has_pending_migrations_until_upgraded(
        self, make_store: Callable[[], Store]
    ) -> None:
        s = make_store()
        assert s.status().pending and not s.status().applied
        with pytest.raises(StoreError):
            s.get_job("x")
        applied = s.upgrade()
        assert applied and s.status().current and s.status().applied == applied
        assert s.upgrade() == []
        s.close()

    def test_downgrade_and_upgrade_round_trip(self, store: Store) -> None:
        store.add_job(job("j1"))
        store.add_api_key(api_key("alice"))
        applied = store.status().applied
        undone = store.downgrade(len(applied))
        assert undone == list(reversed(applied))
        assert store.status().pending and not store.status().applied
        with pytest.raises(StoreError):
            store.list_jobs()
        assert store.upgrade() == applied
        assert store.list_jobs() == []  # the tables were dropped and re-created
        assert store.list_api_keys() == []
        store.add_job(job("j1"))
        assert store.get_job("j1") == job("j1")

    def test_upgrade_to_unknown_target_is_an_error(self, make_store: Callable[[], Store]) -> None:
        s = make_store()
        with pytest.raises(StoreError):
            s.upgrade("999_nonexistent")
        s.close()

    # -- jobs ---------------------------------------------------------------------------

    def test_job_round_trip(self, store: Store) -> None:
        store.add_job(job("j1"))
        assert store.get_job("j1") == job("j1")
        assert store.get_job("nope") is None

    def test_duplicate_job_is_rejected(self, store: Store) -> None:
        store.add_job(job("j1"))
        with pytest.raises(StoreError):
            store.add_job(job("j1", created=5))
        assert store.get_job("j1") == job("j1")

    def test_a_job_keeps_the_plan_of_its_run_in_progress(self, store: Store) -> None:
        store.add_job(job("j1"))
        assert held(store, "j1").plan is None
        plan = {"run": 1, "plan": {"fragments": [{"id": "f0", "nodes": ["a", "b"]}]},
                "fallbacks": [{"excluded": ["c"]}]}  # fmt: skip
        store.set_job_plan("j1", plan)
        store.transition_job("j1", JobState.COMPILING, at=T0)
        stored = held(store, "j1")
        assert stored.plan == plan and stored.state is JobState.COMPILING
        store.set_job_plan("j1", {"run": 2})
        assert held(store, "j1").plan == {"run": 2}
        with pytest.raises(StoreError):
            store.set_job_plan("nope", plan)

    def test_legal_path_to_completed(self, store: Store) -> None:
        store.add_job(job("j1"))
        path = [JobState.COMPILING, JobState.RESERVING, JobState.EXECUTING, JobState.COMPLETED]
        for i, state in enumerate(path, 1):
            rec = store.transition_job("j1", state, at=at(i), result={"n": i})
            assert rec.state == state and rec.updated_at == at(i)
        final = held(store, "j1")
        assert final.state == JobState.COMPLETED and final.result == {"n": 4}
        assert final.created_at == at(0)

    def test_illegal_transition_leaves_job_unchanged(self, store: Store) -> None:
        store.add_job(job("j1"))
        with pytest.raises(StoreError):
            store.transition_job("j1", JobState.EXECUTING, at=at(1))
        assert store.get_job("j1") == job("j1")
        store.transition_job("j1", JobState.FAILED, at=at(2), error={"kind": "x"})
        with pytest.raises(StoreError):
            store.transition_job("j1", JobState.COMPILING, at=at(3))
        assert held(store, "j1").error == {"kind": "x"}

    def test_an_expected_state_makes_a_transition_a_compare_and_set(self, store: Store) -> None:
        """FR-009: ``expected`` is compared with the stored state in the same transaction;
        a refusal names the state found and changes nothing."""
        store.add_job(job("j1"))
        store.transition_job("j1", JobState.COMPILING, at=at(1), expected=JobState.QUEUED)
        with pytest.raises(TransitionRefused) as refused:
            store.transition_job("j1", JobState.FAILED, at=at(2), expected=JobState.QUEUED)
        assert refused.value.state == JobState.COMPILING and refused.value.kind == "conflict"
        assert refused.value.to_dict()["state"] == "COMPILING"
        assert held(store, "j1").state is JobState.COMPILING
        store.transition_job("j1", JobState.FAILED, at=at(3), expected=JobState.COMPILING)
        with pytest.raises(TransitionRefused) as ended:  # illegal: it names the final state
            store.transition_job("j1", JobState.COMPLETED, at=at(4), result={"n": 1})
        assert ended.value.state == JobState.FAILED
        assert held(store, "j1").result is None

    def test_two_threads_racing_to_end_a_job_exactly_one_wins(self, store: Store) -> None:
        """A cancel (→ FAILED) and a completion (→ COMPLETED) of the same job in two
        threads at once: one transition is written, the other is refused with the state
        the winner wrote (what a cancel's 409 reports)."""
        outcomes: dict[str, list[object]] = {}
        for _ in range(20):
            jid = f"race{next(_ids)}"
            store.add_job(job(jid, state=JobState.EXECUTING))
            barrier = threading.Barrier(2)

            def end(new: JobState, jid: str = jid, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                try:
                    store.transition_job(jid, new, at=T0, expected=JobState.EXECUTING)
                    outcomes.setdefault(jid, []).append(new)
                except TransitionRefused as exc:
                    outcomes.setdefault(jid, []).append(exc)

            threads = [threading.Thread(target=end, args=(s,)) for s in TERMINAL]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            won = [o for o in outcomes[jid] if isinstance(o, JobState)]
            lost = [o for o in outcomes[jid] if isinstance(o, TransitionRefused)]
            assert len(won) == 1 and len(lost) == 1, outcomes[jid]
            assert held(store, jid).state is won[0] and lost[0].state == won[0]

    def test_transition_of_unknown_job(self, store: Store) -> None:
        with pytest.raises(StoreError):
            store.transition_job("ghost", JobState.COMPILING, at=at(1))

    def test_list_count_and_unfinished(self, store: Store) -> None:
        for i in range(5):
            store.add_job(job(f"j{i}", created=10 - i))
        store.transition_job("j0", JobState.FAILED, at=at(20))
        store.transition_job("j1", JobState.COMPILING, at=at(20))
        assert [j.job_id for j in store.list_jobs()] == ["j4", "j3", "j2", "j1", "j0"]
        assert [j.job_id for j in store.list_jobs(limit=2, offset=1)] == ["j3", "j2"]
        assert [j.job_id for j in store.list_jobs(JobState.QUEUED)] == ["j4", "j3", "j2"]
        assert store.count_jobs() == 5 and store.count_jobs(JobState.FAILED) == 1
        assert [j.job_id for j in store.unfinished_jobs()] == ["j4", "j3", "j2", "j1"]

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.lists(st.sampled_from(list(JobState)), max_size=8))
    def test_any_sequence_of_transitions_follows_the_state_machine(
        self, store: Store, steps: list[JobState]
    ) -> None:
        jid = f"p{next(_ids)}"
        store.add_job(job(jid))
        state = JobState.QUEUED
        for i, new in enumerate(steps, 1):
            if can_transition(state, new):
                assert store.transition_job(jid, new, at=at(i)).state == new
                state = new
            else:
                with pytest.raises(StoreError):
                    store.transition_job(jid, new, at=at(i))
            assert held(store, jid).state == state
        if state.terminal:
            for new in JobState:
                with pytest.raises(StoreError):
                    store.transition_job(jid, new, at=at(99))

    # -- fragments, reservations, adverts -------------------------------------------------

    def test_fragment_attempts_are_upserted(self, store: Store) -> None:
        a1 = FragmentRecord("j1", "f1", 1, "RUNNING", node="n1", started_at=at(1))
        store.put_fragment(a1)
        done = FragmentRecord(
            "j1",
            "f1",
            1,
            "DONE",
            node="n1",
            started_at=at(1),
            ended_at=at(2),
            record={"fidelity": 0.99},
        )
        store.put_fragment(done)
        a2 = FragmentRecord("j1", "f0", 2, "FAILED", error={"kind": "timeout"})
        store.put_fragment(a2)
        store.put_fragment(FragmentRecord("j2", "f1", 1, "DONE"))
        assert store.list_fragments("j1") == [a2, done]

    def test_reservations(self, store: Store) -> None:
        r1, r2, r3 = reservation("r1", start=5), reservation("r2", "n2", 1), reservation("r3")
        for r in (r1, r2, r3):
            store.put_reservation(r)
        released = reservation("r1", start=5, state="RELEASED")
        store.put_reservation(released)
        assert store.get_reservation("r1") == released
        assert store.get_reservation("zz") is None
        assert [r.reservation_id for r in store.list_reservations()] == ["r3", "r2", "r1"]
        assert store.list_reservations(node="n2") == [r2]
        assert store.list_reservations(state="RELEASED") == [released]
        assert store.list_reservations(job_id="other") == []

    def test_adverts_keep_the_latest_per_node(self, store: Store) -> None:
        a = AdvertRecord("peerB", at(0), at(10), {"v": 1})
        b = AdvertRecord("peerA", at(1), at(11), {"v": 1})
        store.put_advert(a)
        store.put_advert(b)
        newer = AdvertRecord("peerB", at(5), at(15), {"v": 2, "services": {"cx": 0.99}})
        store.put_advert(newer)
        assert store.list_adverts() == [b, newer]

    # -- quality and metrics -----------------------------------------------------------

    def test_quality_reports_newest_first_with_filters(self, store: Store) -> None:
        reports = [
            QualityReport("n1", "node", "fidelity", 0.9 + i / 100, at(i), "advert")
            for i in range(5)
        ]
        reports.append(QualityReport("n1|n2", "link", "rtt_ms", 1.5, at(2), "probe"))
        reports.append(QualityReport("n1", "node", "rtt_ms", 5000.0, at(1), "probe", ok=False))
        for report in reports:
            store.add_quality_report(report)
        got = store.list_quality_reports("n1")
        r = reports
        assert got == [r[4], r[3], r[2], r[6], r[1], r[0]]  # equal times: later-added first
        assert got[3].ok is False and got[0].ok is True
        assert store.list_quality_reports("n1", since=at(3)) == [reports[4], reports[3]]
        assert store.list_quality_reports(limit=2) == [reports[4], reports[3]]
        assert store.list_quality_reports("n1|n2") == [reports[5]]

    def test_writes_in_a_batch_are_all_stored(self, store: Store) -> None:
        with store.batch():
            for i in range(5):
                store.add_metric(MetricSample("m", float(i), T0))
            store.add_job(job("j1"))
        assert sorted(m.value for m in store.list_metrics("m")) == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert store.get_job("j1") == job("j1")

    def test_metrics_newest_first_with_filters(self, store: Store) -> None:
        samples = [
            MetricSample("queue_depth", float(i), at(i), {"role": "coord"}) for i in range(3)
        ]
        samples.append(MetricSample("retries", 2.0, at(1)))
        for s in samples:
            store.add_metric(s)
        assert store.list_metrics("queue_depth") == list(reversed(samples[:3]))
        # equal times: the later-added sample first
        assert store.list_metrics(since=at(1), limit=10) == [samples[2], samples[3], samples[1]]
        assert store.list_metrics("retries") == [samples[3]]

    # -- API keys (FR-014) ---------------------------------------------------------------

    def test_api_keys_need_the_schema(self, make_store: Callable[[], Store]) -> None:
        """FR-014: keys live in the versioned schema like everything else."""
        s = make_store()
        with pytest.raises(StoreError):
            s.list_api_keys()
        s.close()

    def test_api_key_round_trip_by_hash(self, store: Store) -> None:
        """FR-014: a key's record is found again by its hash, and only by it."""
        alice = api_key("alice", ("read", "submit"), created=1)
        store.add_api_key(alice)
        got = store.get_api_key(alice.key_hash)
        assert got == alice and got.roles == ("read", "submit") and got.created_at == at(1)
        assert store.get_api_key("0" * 64) is None
        assert store.get_api_key("alice") is None  # not by name

    def test_duplicate_api_key_name_is_refused_and_the_first_kept(self, store: Store) -> None:
        """FR-014: a name names one key; adding it again never replaces the first."""
        first = api_key("alice", ("read",))
        store.add_api_key(first)
        again = attrs.evolve(api_key("bob", ("admin",)), name="alice")
        with pytest.raises(StoreError):
            store.add_api_key(again)
        assert store.list_api_keys() == [first]
        assert store.get_api_key(again.key_hash) is None
        assert store.get_api_key(first.key_hash) == first

    def test_duplicate_api_key_hash_is_refused(self, store: Store) -> None:
        """FR-014: one hash, one key (so a presented key means exactly one record)."""
        first = api_key("alice")
        store.add_api_key(first)
        with pytest.raises(StoreError):
            store.add_api_key(attrs.evolve(first, name="bob"))
        assert store.list_api_keys() == [first]

    def test_api_keys_are_listed_by_name_and_deleted(self, store: Store) -> None:
        """FR-014: revoking a key forgets it; other keys stay."""
        keys = [api_key(n, ("admin",)) for n in ("carol", "alice", "bob")]
        for k in keys:
            store.add_api_key(k)
        assert [k.name for k in store.list_api_keys()] == ["alice", "bob", "carol"]
        assert store.delete_api_key("bob") is True
        assert store.delete_api_key("bob") is False
        assert store.delete_api_key("nobody") is False
        assert store.get_api_key(keys[2].key_hash) is None
        assert [k.name for k in store.list_api_keys()] == ["alice", "carol"]
        assert store.get_api_key(keys[0].key_hash) == keys[0]
