"""Property-based conformance of the HTTP API (FR-009, FR-014): schemathesis generates
requests from the served OpenAPI document — valid and invalid bodies, paths and queries —
against a real coordinator; at least 2,000 requests, no 5xx, and every response as the
schema says (status codes, content types, bodies)."""

from __future__ import annotations

import signal

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from qorch.testing.coordinator_process import CoordinatorProcess
from tests.conftest import REPO

MIN_REQUESTS = 2000
EXAMPLES_PER_OPERATION = 400
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    """``qorch up`` on two noiseless nodes (so /health is 200: degraded would be a 503)."""
    proc = CoordinatorProcess(
        ["up", "--topology", str(REPO / "examples" / "topologies" / "noiseless-two-nodes.toml")],
        tmp_path_factory.mktemp("schemathesis") / "data",
    ).start()
    proc.wait_for_nodes(2)
    yield proc
    assert proc.kill(signal.SIGTERM) == 0, proc.stderr_tail()


def test_generated_requests_get_no_5xx_and_schema_conformant_answers(coordinator):
    """Issue 6 target: >= 2,000 generated requests, bounded (a fixed number of examples
    per operation), no server error, no answer that violates the schema."""
    schema = schemathesis.openapi.from_url(coordinator.url + "/schema/openapi.json")
    sent = {"n": 0}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(base_url=coordinator.url, timeout=30)
            sent["n"] += 1
            case.validate_response(response, checks=CHECKS)

        check()
    assert sent["n"] >= MIN_REQUESTS, sent
