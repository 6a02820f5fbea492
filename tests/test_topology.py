"""Topology files and snapshots (FR-001, FR-004): one schema, precise errors."""

from __future__ import annotations

import json

import pytest

from qorch.topology import (
    COHERENCE_PRESETS,
    TopologyError,
    load_topology,
    topology_from_dict,
)
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


# -- coherence and communication qubits ---------------------------------------------------


def node(**extra):
    return {"name": "a", "qubits": 2, "gates": {"h": 0.99}, **extra}


def test_coherence_forms_explicit_preset_and_override():
    def one(**extra):
        return topology_from_dict({"nodes": [node(**extra)]}).node("a")

    plain = one()
    assert (plain.t1_us, plain.t2_us, plain.comm_qubits) == (None, None, None)
    explicit = one(t1_us=2e6, t2_us=4e6, comm_qubits=2)  # T2 = 2 T1 is the limit, allowed
    assert (explicit.t1_us, explicit.t2_us, explicit.comm_qubits) == (2e6, 4e6, 2)
    assert isinstance(one(t1_us=5, t2_us=3).t1_us, float)
    for preset, (t1, t2) in COHERENCE_PRESETS.items():
        spec = one(coherence=preset)
        assert (spec.t1_us, spec.t2_us) == (t1, t2) and t2 <= 2 * t1
    overridden = one(coherence="trapped-ion", t2_us=5e5)  # the explicit value wins
    assert (overridden.t1_us, overridden.t2_us) == (1e8, 5e5)
    both = one(coherence="superconducting", t1_us=1e6, t2_us=1e6)
    assert (both.t1_us, both.t2_us) == (1e6, 1e6)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {"t1_us": 100, "t2_us": 300},
            "nodes[1].t2_us = 300.0: T2 must be <= 2*T1 (t1_us = 100.0)",
        ),
        ({"t1_us": 100}, "nodes[1].t2_us: give both t1_us and t2_us (or a coherence preset)"),
        ({"t2_us": 100}, "nodes[1].t1_us: give both t1_us and t2_us (or a coherence preset)"),
        ({"t1_us": 0, "t2_us": 1}, "nodes[1].t1_us = 0: expected a number of microseconds > 0"),
        ({"t1_us": 1, "t2_us": -1}, "nodes[1].t2_us = -1: expected a number of microseconds > 0"),
        (
            {"t1_us": "1e6", "t2_us": 1},
            "nodes[1].t1_us = '1e6': expected a number of microseconds > 0",
        ),
        (
            {"t1_us": True, "t2_us": 1},
            "nodes[1].t1_us = True: expected a number of microseconds > 0",
        ),
        (
            {"t1_us": float("inf"), "t2_us": 1},
            "nodes[1].t1_us = inf: expected a number of microseconds > 0",
        ),
        (
            {"coherence": "superconducting", "t2_us": 300},
            "nodes[1].t2_us = 300.0: T2 must be <= 2*T1 (t1_us = 100.0)",
        ),
        (
            {"coherence": "photonic"},
            "nodes[1].coherence = 'photonic': expected one of 'superconducting', "
            "'trapped-ion', 'neutral-atom'",
        ),
        (
            {"coherence": ["trapped-ion"]},
            "nodes[1].coherence = ['trapped-ion']: expected one of 'superconducting', "
            "'trapped-ion', 'neutral-atom'",
        ),
        ({"comm_qubits": 0}, "nodes[1].comm_qubits = 0: expected an integer >= 1"),
        ({"comm_qubits": 1.5}, "nodes[1].comm_qubits = 1.5: expected an integer >= 1"),
        ({"comm_qubits": True}, "nodes[1].comm_qubits = True: expected an integer >= 1"),
    ],
)
def test_every_bad_coherence_is_refused_with_its_path(extra, problem):
    good = {"name": "z", "qubits": 1, "gates": {"x": 1}}
    assert problems({"nodes": [good, {**node(), **extra}]}) == [problem]


def test_coherence_survives_to_dict_and_a_stored_plan_read_back():
    original = topology_from_dict(
        {
            "nodes": [
                node(t1_us=2e6, t2_us=1e6, comm_qubits=3),
                {**node(coherence="trapped-ion"), "name": "b"},
                {**node(), "name": "c"},  # none: t1_us etc. travel as null
            ],
            "network": {"all_to_all": True},
        }
    )
    data = json.loads(json.dumps(original.to_dict()))  # as a store keeps it
    assert data["nodes"][2]["t1_us"] is None and data["nodes"][2]["comm_qubits"] is None
    back = topology_from_dict(data, "stored plan")
    assert back == original and back.digest() == original.digest()
    assert (back.node("a").t1_us, back.node("a").t2_us, back.node("a").comm_qubits) == (
        2e6,
        1e6,
        3,
    )
    assert back.node("c").t1_us is None
    differs = topology_from_dict({"nodes": [node(t1_us=2e6, t2_us=1.5e6)]})
    assert differs.digest() != topology_from_dict({"nodes": [node(t1_us=2e6, t2_us=1e6)]}).digest()


def test_example_coherence_shows_latency_without_erasing_it():
    topologies = REPO / "examples" / "topologies"
    ideal = load_topology(topologies / "noiseless-two-nodes.toml")
    assert all(n.t1_us is None and n.t2_us is None for n in ideal.nodes)  # stays exactly ideal
    for name in ("two-nodes", "four-heterogeneous", "small-world-10"):
        for n in load_topology(topologies / f"{name}.toml").nodes:
            assert n.t1_us is not None and n.t2_us is not None, (name, n.name)
            # seconds-scale: a 100 ms wait costs a few percent, never the 100 µs preset
            assert n.t2_us >= 1e6 and n.t2_us <= 2 * n.t1_us, (name, n.name)
