"""The job API's Python client, ``qorch.client`` (FR-009, FR-014; issue 21).

The error mapping is checked on the API's answers as the coordinator words them; every
operation of :class:`Client` and :class:`AsyncClient` against a real ``qorch up`` on two
noiseless node processes: circuits as text, file and qiskit ``QuantumCircuit``, waiting
over the websocket and by polling, results, cancel, listing, nodes and health, and the
typed refusals (404, 409, 422) with the API's kind, message and field errors.
"""

from __future__ import annotations

import signal
import socket

import httpx
import pytest
import trio
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter

import qorch.client as client_module
from qorch.client import (
    ERRORS,
    ApiError,
    AsyncClient,
    BadReply,
    Client,
    Conflict,
    FieldError,
    Invalid,
    NotFound,
    RateLimited,
    Unreachable,
    status_call,
    submit_call,
)
from qorch.coordinator.events import JobProgress
from qorch.errors import CircuitError
from qorch.testing.coordinator_process import CoordinatorProcess
from tests.conftest import REPO

BELL_PATH = REPO / "examples" / "circuits" / "bell.qasm"
BELL = BELL_PATH.read_text()
TOPOLOGY = REPO / "examples" / "topologies" / "noiseless-two-nodes.toml"


def reply(status: int, body: object = None, text: str = "", **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "http://coordinator/api/v1/jobs/job-1")
    if body is not None:
        return httpx.Response(status, json=body, headers=headers, request=request)
    return httpx.Response(status, text=text, headers=headers, request=request)


# -- the error mapping --------------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), sorted(ERRORS.items()))
def test_each_refused_status_is_its_own_exception_with_the_apis_kind_and_message(status, cls):
    body = {"kind": f"kind-{status}", "message": f"message {status}"}
    with pytest.raises(cls) as info:
        status_call("job-1").answer(reply(status, body))
    error = info.value
    assert isinstance(error, ApiError) and type(error) is cls
    assert (error.kind, error.message, error.status) == (
        f"kind-{status}",
        f"message {status}",
        status,
    )
    assert error.where == "GET http://coordinator/api/v1/jobs/job-1"
    assert error.to_dict()["kind"] == f"kind-{status}"


def test_a_422_carries_every_field_error_in_the_exception_and_its_message():
    body = {
        "kind": "validation",
        "message": "invalid submission",
        "errors": [{"field": "shots", "message": "at least 1"}, {"field": None, "message": "x"}],
    }
    with pytest.raises(Invalid) as info:
        status_call("job-1").answer(reply(422, body))
    assert info.value.errors == (FieldError("shots", "at least 1"), FieldError(None, "x"))
    assert str(info.value) == "validation: invalid submission\n  shots: at least 1\n  None: x"
    assert info.value.to_dict()["errors"][0] == {"field": "shots", "message": "at least 1"}


def test_a_status_without_its_own_class_and_an_answer_without_json_are_still_typed():
    with pytest.raises(ApiError) as info:
        status_call("job-1").answer(reply(500, {"kind": "internal", "message": "logged"}))
    assert type(info.value) is ApiError and info.value.kind == "internal"
    with pytest.raises(BadReply) as bad:
        status_call("job-1").answer(reply(502, text="<html>bad gateway</html>"))
    assert bad.value.kind == "bad_reply" and "502" in bad.value.message
    with pytest.raises(BadReply):  # a 200 that is not JSON is no answer either
        status_call("job-1").answer(reply(200, text="not json"))


def test_a_rate_limit_says_when_to_retry_and_a_conflict_the_jobs_state():
    with pytest.raises(RateLimited) as info:
        status_call("job-1").answer(
            reply(429, {"kind": "rate_limited", "message": "m"}, **{"Retry-After": "3"})
        )
    assert info.value.retry_after == 3.0
    body = {"kind": "conflict", "message": "ended", "state": "COMPLETED"}
    with pytest.raises(Conflict) as conflict:
        status_call("job-1").answer(reply(409, body))
    assert conflict.value.state == "COMPLETED" and conflict.value.body == body


def test_a_coordinator_that_does_not_answer_is_unreachable_naming_the_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with Client(url) as client, pytest.raises(Unreachable) as info:
        client.health()
    assert info.value.kind == "unreachable" and url in info.value.message


def test_the_api_key_goes_in_the_header_and_the_websocket_query():
    with Client("http://coordinator:8700/", api_key="qk_abc") as client:
        assert client.url == "http://coordinator:8700"
        assert client.http.headers["X-API-Key"] == "qk_abc"
    ws = client_module.events_url("https://c:1", "job-1", "qk_abc")
    assert ws == "wss://c:1/api/v1/jobs/job-1/events?api_key=qk_abc"
    with Client("http://c:1") as anonymous:
        assert "X-API-Key" not in anonymous.http.headers


# -- what a circuit becomes ----------------------------------------------------------------


def test_a_circuit_is_text_a_file_or_a_qiskit_circuit(tmp_path):
    assert submit_call(BELL, shots=10).json == {
        "qasm": BELL,
        "format": "auto",
        "seed": 0,
        "shots": 10,
    }
    assert submit_call(BELL_PATH).json["qasm"] == BELL
    assert submit_call(str(BELL_PATH), format="qasm3").json == {
        "qasm": BELL, "format": "qasm3", "seed": 0
    }  # fmt: skip
    with pytest.raises(ApiError) as info:
        submit_call(str(tmp_path / "missing.qasm"))
    assert info.value.kind == "io" and "missing.qasm" in info.value.message

    qc = QuantumCircuit(
        QuantumRegister(3, "q"), ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    )
    qc.h(0)
    qc.cx(0, 1)
    qc.ccx(0, 1, 2)  # not an IR gate: expanded
    qc.measure([0, 1, 2], [0, 1, 2])
    body = submit_call(qc, seed=4).json
    assert body["format"] == "qasm3" and body["seed"] == 4
    assert "bit[2] a;" in body["qasm"] and "bit[1] b;" in body["qasm"]

    theta = Parameter("theta")
    unbound = QuantumCircuit(1, 1)
    unbound.rx(theta, 0)
    with pytest.raises(CircuitError) as circuit_error:
        submit_call(unbound)
    assert circuit_error.value.kind == "unsupported" and "theta" in str(circuit_error.value)
    with pytest.raises(TypeError):
        submit_call(42)


# -- against a real coordinator --------------------------------------------------------------


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    proc = CoordinatorProcess(
        ["up", "--topology", str(TOPOLOGY)], tmp_path_factory.mktemp("up") / "d"
    )
    proc.start()
    proc.wait_for_nodes(2)
    yield proc
    assert proc.kill(signal.SIGTERM) == 0, proc.stderr_tail()


def test_the_client_runs_a_circuit_from_text_file_and_qiskit_and_follows_it_live(coordinator):
    seen: list[str] = []
    with Client(coordinator.url) as client:
        job_id = client.submit(BELL, shots=400, seed=5)
        job = client.wait(job_id, timeout=120, on_progress=lambda p: seen.append(p.state))
        assert job.state == "COMPLETED" and job.ended and job.job_id == job_id
        assert seen and seen[-1] == "COMPLETED"  # the websocket was followed to the end
        result = client.result(job_id)
        assert set(result.counts) == {"00", "11"} and sum(result.counts.values()) == 400
        assert result.shots == 400 and result.executed_qasm3 is None and result.ebits >= 0
        assert client.result(job_id, executed=True).executed_qasm3.startswith("OPENQASM 3")

        from_file = client.run(BELL_PATH, shots=400, seed=5, timeout=120)
        assert from_file.counts == result.counts  # same circuit, same seed: same counts

        qc = QuantumCircuit(
            QuantumRegister(3, "q"), ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
        )
        qc.x(0)
        qc.x(2)
        qc.measure([0, 1, 2], [0, 1, 2])
        assert client.run(qc, shots=50, timeout=120).counts == {"1 01": 50}  # qiskit's order


def test_wait_polls_when_the_websocket_cannot_be_followed(coordinator, monkeypatch):
    monkeypatch.setattr(client_module, "events_url", lambda url, job, key: url + "/nowhere")
    seen: list[JobProgress] = []
    with Client(coordinator.url) as client:
        job_id = client.submit(BELL, shots=100)
        assert client.wait(job_id, timeout=120, on_progress=seen.append).state == "COMPLETED"
    assert seen == []  # no event was read: the status was polled


def test_the_client_lists_cancels_and_refuses_with_typed_errors(coordinator):
    with Client(coordinator.url) as client:
        job_id = client.submit(BELL, shots=100)
        cancelled = client.cancel(job_id)
        ended = client.wait(job_id, timeout=120)
        assert ended.state in ("COMPLETED", "FAILED")
        if cancelled.state == "FAILED":  # the cancel won: the job never completes
            assert cancelled.error["kind"] == "cancelled"
            with pytest.raises(Conflict) as not_done:
                client.result(job_id)
            assert not_done.value.kind == "failed" and not_done.value.state == "FAILED"
        with pytest.raises(Conflict) as late:
            client.cancel(job_id)
        assert late.value.kind == "conflict" and late.value.state == ended.state

        with pytest.raises(NotFound) as missing:
            client.status("job-nope")
        assert missing.value.kind == "not_found" and missing.value.status == 404
        with pytest.raises(Invalid) as invalid:
            client.submit(BELL, shots=0, strategy="nope")
        assert {e.field for e in invalid.value.errors} == {"shots", "strategy"}
        with pytest.raises(Invalid) as query:
            client.jobs("DANCING")
        assert [e.field for e in query.value.errors] == ["state"]

        page = client.jobs(limit=1000)
        assert job_id in [j.job_id for j in page.jobs] and page.total >= len(page.jobs) >= 1
        assert client.jobs("COMPLETED", limit=1).limit == 1
        assert sorted(n["node"] for n in client.nodes()) == ["ideal-a", "ideal-b"]
        health = client.health()
        assert health.ok and health.nodes == 2 and "registry" in health.checks


def test_the_async_client_does_the_same_under_trio(coordinator):
    async def main() -> None:
        async with AsyncClient(coordinator.url) as client:
            ids = [await client.submit(BELL, shots=200, seed=s) for s in (1, 2)]
            seen: list[str] = []
            async with trio.open_nursery() as nursery:
                for job_id in ids:
                    nursery.start_soon(client.wait, job_id, 120, lambda p: seen.append(p.state))
            assert seen.count("COMPLETED") == 2
            results = [await client.result(i) for i in ids]
            assert all(set(r.counts) <= {"00", "11"} for r in results)
            assert (await client.status(ids[0])).state == "COMPLETED"
            assert (await client.run(BELL_PATH, shots=10, timeout=120)).shots == 10
            assert (await client.health()).ok
            assert len(await client.nodes()) == 2
            assert ids[1] in [j.job_id for j in (await client.jobs(limit=1000)).jobs]
            with pytest.raises(NotFound):
                await client.cancel("job-nope")

    trio.run(main)
