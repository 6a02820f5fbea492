"""One validation mechanism (issue 16 item 3; FR-011, FR-014): the same mutations of each
of the six inputs — settings, adverts, node protocol bodies, topologies, suites and the
API's submit body — are refused by the one converter (qorch.converters) with the same
structured problem (where, value, what was expected), in each input's own error type.

The mutations: a bool where an integer is expected, a string that holds a number, an
unknown field, a missing required field, a value out of range. Two inputs are wire
messages that a newer minor version may extend, so an unknown field is ignored there,
as docs/protocol.md §4 says; every setting has a default, so none is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from litestar.exceptions import ValidationException

from qorch.config import load_settings
from qorch.converters import (
    Check,
    Invalid,
    Problem,
    Rejected,
    ignore_unknown_keys,
    integer,
    number,
    one_of,
    structure,
    text,
)
from qorch.coordinator.submission import Submission, submission_from_body
from qorch.errors import ConfigError
from qorch.harness.suite import load_suite
from qorch.node import protocol
from qorch.node.advert import AdvertError, advert_for, decode_advert
from qorch.runtime.job import JobRequest
from qorch.topology import TopologyError, topology_from_dict
from tests.conftest import REPO

MUTATIONS = ("bool for an integer", "string number", "unknown field", "missing field", "range")

# -- each input, mutated; what it answers (a list of problems, or None when accepted) ----


def mutated(data: dict[str, Any], mutation: str, field: str, bad: int) -> dict[str, Any]:
    """``data`` with ``mutation`` applied to its integer ``field`` (``bad``: out of range)."""
    change = {
        "bool for an integer": {field: True},
        "string number": {field: str(data[field])},
        "unknown field": {"colour": "red"},
        "missing field": {field: None},
        "range": {field: bad},
    }[mutation]
    return {k: v for k, v in {**data, **change}.items() if v is not None}


def settings_answer(tmp_path: Path, mutation: str) -> list[str] | None:
    lines = {
        "bool for an integer": "[limits]\nmax_qubits = true\n",
        "string number": '[limits]\nmax_qubits = "64"\n',
        "unknown field": "[limits]\nmax_qubit = 64\n",
        "missing field": "# nothing set\n",  # every setting has a default
        "range": "[limits]\nmax_qubits = 0\n",
    }
    path = tmp_path / "settings.toml"
    path.write_text(lines[mutation])
    try:
        load_settings(path)
    except ConfigError as exc:
        return [p.replace(f" (from {path})", "") for p in exc.problems]
    return None


def advert_answer(mutation: str) -> list[str] | None:
    spec = topology_from_dict({"nodes": [{"name": "a", "qubits": 4, "gates": {"cx": 0.99}}]})
    wire = advert_for(spec.nodes[0], peer_id="p", timestamp=100.0, sequence=1, ttl_s=10).to_dict()
    wire = mutated(wire, mutation, "sequence", -1)  # a newer minor version may add fields
    try:
        decode_advert(
            json.dumps(wire).encode(), now=100.0, max_bytes=65536, max_age_s=10, max_skew_s=5
        )
    except AdvertError as exc:
        assert exc.reason == "schema" and exc.where == "sequence"
        return [str(exc)]
    return None


def wire_answer(mutation: str) -> list[str] | None:
    body = mutated(protocol.reserve_body("f0"), mutation, "qubits", 0)  # extra fields: ignored
    try:
        protocol.reserve_request(body)
    except protocol.BadRequest as exc:
        error = protocol.bad_request(exc)["error"]
        assert error["code"] == "bad_request" and error["where"] == "qubits"
        return [error["message"]]
    return None


def topology_answer(mutation: str) -> list[str] | None:
    node = mutated({"name": "a", "qubits": 2, "gates": {"cx": 0.99}}, mutation, "qubits", 0)
    try:
        topology_from_dict({"nodes": [node]})
    except TopologyError as exc:
        return exc.problems
    return None


def suite_answer(tmp_path: Path, mutation: str) -> list[str] | None:
    topology = REPO / "examples" / "topologies" / "noiseless-two-nodes.toml"
    lines = {
        "bool for an integer": "shots = true\n",
        "string number": 'shots = "500"\n',
        "unknown field": "colour = 'red'\n",
        "missing field": "",  # no topologies
        "range": "shots = 0\n",
    }[mutation]
    topologies = "" if mutation == "missing field" else f"topologies = ['{topology}']\n"
    path = tmp_path / "suite.toml"
    path.write_text(f"{lines}{topologies}[[circuits]]\ngenerator = 'ghz'\nsizes = [3]\n")
    try:
        load_suite(path)
    except ConfigError as exc:
        return [p.removeprefix(f"{path}: ") for p in exc.problems]
    return None


def api_answer(mutation: str) -> list[str] | None:
    body = mutated({"qasm": "OPENQASM 3.0;", "shots": 100}, mutation, "shots", 0)
    if mutation == "missing field":  # shots may be left out: the circuit may not
        body = {"shots": 100}
    try:
        submission_from_body(body, {"greedy"}, 1000)
    except ValidationException as exc:
        assert isinstance(exc.extra, list)
        assert all(e["message"].startswith(e["field"]) for e in exc.extra)
        return [e["message"] for e in exc.extra]
    return None


EXPECTED = {
    "settings": {
        "bool for an integer": ["limits.max_qubits = True: expected an integer >= 1"],
        "string number": ["limits.max_qubits = '64': expected an integer >= 1"],
        "unknown field": ["unknown setting 'limits.max_qubit'; did you mean 'limits.max_qubits'?"],
        "missing field": None,
        "range": ["limits.max_qubits = 0: expected an integer >= 1"],
    },
    "advert": {
        "bool for an integer": ["sequence = True: expected an integer >= 0"],
        "string number": ["sequence = '1': expected an integer >= 0"],
        "unknown field": None,
        "missing field": ["sequence: expected an integer >= 0"],
        "range": ["sequence = -1: expected an integer >= 0"],
    },
    "wire": {
        "bool for an integer": ["qubits = True: expected an integer in [1, 100000]"],
        "string number": ["qubits = '1': expected an integer in [1, 100000]"],
        "unknown field": None,
        "missing field": ["qubits: expected an integer in [1, 100000]"],
        "range": ["qubits = 0: expected an integer in [1, 100000]"],
    },
    "topology": {
        "bool for an integer": ["nodes[0].qubits = True: expected an integer >= 1"],
        "string number": ["nodes[0].qubits = '2': expected an integer >= 1"],
        "unknown field": [
            "nodes[0].colour: unknown key; expected one of name, qubits, gates, node_type, "
            "available, degraded, t1_us, t2_us, coherence, comm_qubits, fidelity_scale, address"
        ],
        "missing field": ["nodes[0].qubits: expected an integer >= 1"],
        "range": ["nodes[0].qubits = 0: expected an integer >= 1"],
    },
    "suite": {
        "bool for an integer": ["shots = True: expected an integer >= 1"],
        "string number": ["shots = '500': expected an integer >= 1"],
        "unknown field": [
            "colour: unknown key; expected one of name, seed, shots, repeats, orchestrations, "
            "transports, modes, topologies, strategies, circuits, scenarios"
        ],
        "missing field": ["topologies: expected a non-empty list of strings"],
        "range": ["shots = 0: expected an integer >= 1"],
    },
    "api": {
        "bool for an integer": ["shots = True: expected an integer in [1, 1000000]"],
        "string number": ["shots = '100': expected an integer in [1, 1000000]"],
        "unknown field": [
            "colour: unknown key; expected one of shots, seed, min_fidelity, strategy, qasm, format"
        ],
        "missing field": ["qasm: expected a non-empty circuit"],
        "range": ["shots = 0: expected an integer in [1, 1000000]"],
    },
}


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_input_refuses_each_mutation_with_the_same_structured_problem(
    tmp_path, name, mutation
):
    answer = {
        "settings": lambda: settings_answer(tmp_path, mutation),
        "advert": lambda: advert_answer(mutation),
        "wire": lambda: wire_answer(mutation),
        "topology": lambda: topology_answer(mutation),
        "suite": lambda: suite_answer(tmp_path, mutation),
        "api": lambda: api_answer(mutation),
    }[name]()
    assert answer == EXPECTED[name][mutation]


def test_the_api_body_becomes_the_typed_job_request_the_store_keeps_as_before():
    body = {"qasm": "OPENQASM 3.0;", "shots": 100, "strategy": "greedy"}
    submission = submission_from_body(body, {"greedy"}, 1000)
    assert isinstance(submission, JobRequest) and submission.seed == 0
    stored = submission.stored("req-1")
    assert stored == {**body, "seed": 0, "format": "auto", "request_id": "req-1"}
    assert Submission.from_stored(stored) == submission
    with pytest.raises(Rejected) as info:
        Submission.from_stored({**stored, "seed": -1})
    assert info.value.to_dict()["problems"] == [
        {
            "where": "seed",
            "message": "expected an integer in [0, 4294967295]",
            "value": -1,
            "expected": "an integer in [0, 4294967295]",
        }
    ]
    too_big = {"qasm": "x" * 1001, "strategy": "nope"}
    with pytest.raises(ValidationException) as refused:
        submission_from_body(too_big, {"greedy"}, 1000)
    assert [e["field"] for e in refused.value.extra] == ["strategy", "qasm"]


# -- the mechanism itself ------------------------------------------------------------------


@ignore_unknown_keys
@attrs.frozen
class Item:
    """An example entry: an integer, a probability, a choice and a name."""

    n: int = attrs.field(validator=integer(1, 9))
    p: float | None = attrs.field(default=None, validator=number(0, 1).optional())
    kind: str = attrs.field(default="a", validator=one_of("a", "b"))
    name: str = attrs.field(default="x", validator=text(4, without="|"))


@attrs.frozen(kw_only=True)
class Box:
    """An example table holding entries, a table of them and a list of numbers."""

    items: tuple[Item, ...]
    by_name: dict[str, Item] = attrs.field(factory=dict)
    weights: list[float] = attrs.field(factory=list)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, int), ("1", int), (1.0, int), (True, float), ("1.5", float), (1, str), (0, bool)],
)
def test_primitives_are_strict(value, kind):
    with pytest.raises(Rejected):
        structure(value, kind)


def test_an_integer_is_a_number_and_a_list_is_not_a_string():
    assert structure(2, float) == 2.0 and isinstance(structure(2, float), float)
    assert structure([1, 2.5], list[float]) == [1.0, 2.5]
    with pytest.raises(Rejected, match="expected a list of numbers"):
        structure("12", list[float])


def test_every_problem_is_found_with_its_path_value_and_expectation():
    data = {
        "items": [{"n": 1}, {"n": 0, "p": "x", "kind": "c", "name": "a|b", "extra": 1}, 7],
        "by_name": {"k": {"n": True}},
        "weights": [1, "2"],
        "colour": "red",
    }
    with pytest.raises(Rejected) as info:
        structure(data, Box, "box")
    assert [str(p) for p in info.value.problems] == [
        "box.colour: unknown key; expected one of items, by_name, weights",
        "box.items[1].n = 0: expected an integer in [1, 9]",
        "box.items[1].p = 'x': expected a number in [0, 1]",
        "box.items[1].kind = 'c': expected one of 'a', 'b'",
        "box.items[1].name = 'a|b': expected a string of 1-4 characters without '|'",
        "box.items[2] = 7: expected a table",
        "box.by_name.k.n = True: expected an integer in [1, 9]",
        "box.weights = [1, '2']: expected a list of numbers",
    ]
    first = info.value.problems[1]
    assert first == Problem(
        "box.items[1].n", "expected an integer in [1, 9]", 0, "an integer in [1, 9]"
    )
    assert structure({"items": [{"n": 2, "p": None}]}, Box).items == (Item(2),)


def test_a_check_refuses_a_bad_value_when_an_object_is_built_too():
    with pytest.raises(Invalid) as info:
        Item(10)
    assert str(info.value) == "n = 10: expected an integer in [1, 9]"
    assert info.value.problem.where == "n" and info.value.to_dict()["kind"] == "invalid"


def test_checks_that_depend_on_the_call_run_with_the_fields_own():
    names = Check("a known name", lambda v: v in {"x", "y"}, "no such name")
    with pytest.raises(Rejected) as info:
        structure({"items": [{"n": 1, "name": "z"}]}, Box, checks={(Item, "name"): names})
    assert [str(p) for p in info.value.problems] == ["items[0].name = 'z': no such name"]
    assert structure({"items": [{"n": 1, "name": "y"}]}, Box).items[0].name == "y"
