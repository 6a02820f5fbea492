"""Topology files and snapshots (FR-001, FR-004): one schema, precise errors."""

from __future__ import annotations

import pytest

from qorch.topology import TopologyError, load_topology, topology_from_dict
from tests.conftest import REPO


def problems(data) -> list[str]:
    with pytest.raises(TopologyError) as info:
        topology_from_dict(data)
    return info.value.problems


def test_example_topologies_load():
    for name, nodes in [
        ("two-nodes", 2),
        ("four-heterogeneous", 4),
        ("small-world-10", 10),
        ("noiseless-two-nodes", 2),
    ]:
        t = load_topology(REPO / "examples" / "topologies" / f"{name}.toml")
        assert len(t.nodes) == nodes
        assert len(t.digest()) == 64


def test_gates_take_a_fidelity_or_a_table_and_defaults_apply():
    t = topology_from_dict(
        {
            "defaults": {"two_qubit_ns": 400},
            "nodes": [
                {
                    "name": "a",
                    "qubits": 2,
                    "gates": {
                        "h": 0.99,
                        "cx": {"fidelity": 0.9},
                        "rz": {"fidelity": 1, "duration_ns": 0},
                    },
                }
            ],
        }
    )
    a = t.node("a")
    assert a.gate("h").duration_ns == 50 and a.gate("cx").duration_ns == 400
    assert a.gate("rz").duration_ns == 0
    assert a.gate("measure").fidelity == 1.0  # implicit
    assert a.gate("ccx") is None


def test_all_to_all_fills_in_links_and_explicit_links_win():
    t = topology_from_dict(
        {
            "network": {"all_to_all": True, "link_fidelity": 0.9, "link_latency_ms": 2},
            "nodes": [{"name": n, "qubits": 1, "gates": {"x": 1}} for n in "abc"],
            "links": [{"a": "c", "b": "a", "fidelity": 0.5, "latency_ms": 9}],
        }
    )
    assert len(t.links) == 3
    assert t.link("a", "c").fidelity == 0.5 and t.link("b", "a").fidelity == 0.9
    assert t.link("a", "c").a == "a"  # normalised


def test_every_problem_is_reported_with_its_path():
    got = problems(
        {
            "nodes": [
                {"name": "a", "qubits": 0, "gates": {"cx": 1.5, "foo": 0.9}},
                {"name": "a", "qubits": 2, "gates": {"h": 0.9}},
                {
                    "name": "b",
                    "qubits": 2,
                    "gates": {"h": {"fidelity": 0.9, "duration_ns": -1}},
                    "color": "red",
                },
            ],
            "links": [
                {"a": "b", "b": "zz", "fidelity": 0.9, "latency_ms": 1},
                {"a": "b", "b": "b", "fidelity": 0.9, "latency_ms": 1},
            ],
            "network": {"all_to_all": "yes"},
            "extra": 1,
        }
    )
    assert "extra: unknown key; expected one of defaults, network, nodes, links" in got
    assert "nodes[0].qubits = 0: expected an integer >= 1" in got
    assert "nodes[0].gates.cx = 1.5: expected a fidelity in (0, 1]" in got
    assert any(p.startswith("nodes[0].gates.foo: unknown gate 'foo'") for p in got)
    assert "nodes[2].gates.h.duration_ns = -1: expected a number >= 0" in got
    assert any("nodes[2].color: unknown key" in p for p in got)
    assert "links[0].b = 'zz': no such node (nodes: a, b)" in got
    assert "links[1]: a link needs two different nodes, got 'b' twice" in got
    assert "network.all_to_all = 'yes': expected true or false" in got


def test_duplicate_names_and_empty_topologies():
    assert "nodes[1].name = 'a': duplicate node name" in problems(
        {"nodes": [{"name": "a", "qubits": 1, "gates": {"x": 1}}] * 2}
    )
    assert problems({}) == ["nodes: expected at least one [[nodes]] entry"]


def test_file_errors(tmp_path):
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[nodes]\n")
    with pytest.raises(TopologyError, match="not valid TOML"):
        load_topology(bad)


def test_digest_is_order_independent():
    nodes = [{"name": n, "qubits": 1, "gates": {"x": 1}} for n in "ab"]
    one = topology_from_dict({"nodes": nodes, "network": {"all_to_all": True}})
    two = topology_from_dict({"nodes": nodes[::-1], "network": {"all_to_all": True}})
    assert one.digest() == two.digest()
