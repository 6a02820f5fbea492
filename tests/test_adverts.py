"""Advertisements (FR-001) and the node registry (FR-002, FR-008), without a network."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given, settings

from qorch.config import NetworkSettings, QualitySettings
from qorch.coordinator.node_registry import NodeRegistry
from qorch.node.advert import (
    REASONS,
    AdvertError,
    LinkQuality,
    advert_for,
    decode_advert,
)
from qorch.testing.generators import corrupted_adverts
from qorch.topology import topology_from_dict

T0 = 1_800_000_000.0
SPECS = topology_from_dict(
    {
        "nodes": [
            {"name": "a", "qubits": 8, "gates": {"h": 0.999, "cx": 0.99}},
            {"name": "b", "qubits": 4, "gates": {"h": 0.999, "cz": 0.95}, "node_type": "ion"},
            {"name": "c", "qubits": 2, "gates": {"h": 0.999, "cx": 0.85}},
        ]
    }
).nodes
A, B, C = SPECS


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def advert(spec=A, *, peer=None, at=T0, seq=1, ttl=10.0, links=(), availability="available"):
    return advert_for(
        spec,
        peer_id=peer or f"peer-{spec.name}",
        timestamp=at,
        sequence=seq,
        ttl_s=ttl,
        addresses=(f"/ip4/127.0.0.1/tcp/4000/p2p/peer-{spec.name}",),
        links=links,
        availability=availability,
    )


def decode(data, now=T0, sender=None):
    return decode_advert(
        data, now=now, max_bytes=65536, max_age_s=10.0, max_skew_s=5.0, sender=sender
    )


def registry(clock=None, samples=None):
    return NodeRegistry(
        NetworkSettings(),
        QualitySettings(),
        clock=clock or Clock(),
        on_quality=samples.append if samples is not None else None,
    )


# -- the schema ---------------------------------------------------------------------------


def test_an_advert_survives_its_wire_form():
    original = advert(B, links=(LinkQuality("a", 0.97, 1.5),))
    back = decode(original.encode(), sender="peer-b")
    assert back == original
    wire = json.loads(original.encode())
    for field in ("node_id", "service_type", "fidelity", "qubit_range", "availability"):
        assert field in wire  # FR-001's fields, by name
    assert wire["timestamp"] == T0 and wire["version"] == "1.1"
    assert wire["fidelity"] == 0.95  # the worst two-qubit gate


def mutated(**changes):
    data = json.loads(advert().encode())
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("data", "reason", "where"),
    [
        (b"x" * 70_000, "oversized", ""),
        (b"\xff\xfe", "malformed", ""),
        (b"[1, 2]", "malformed", ""),
        (mutated(schema="other"), "schema", "schema"),
        (mutated(version="2.0"), "version", "version"),
        (mutated(version="one"), "schema", "version"),
        (mutated(node_id=None), "schema", "node_id"),
        (mutated(qubit_range=[5, 2]), "schema", "qubit_range"),
        (mutated(services={"cx": 1.5}), "schema", "services.cx"),
        (mutated(services={"frobnicate": 0.9}), "schema", "services.frobnicate"),
        (mutated(links=[{"node_id": "b", "fidelity": 0.9}]), "schema", "links[0].latency_ms"),
        (mutated(availability="maybe"), "schema", "availability"),
        (mutated(timestamp=T0 - 11), "stale", "timestamp"),
        (mutated(timestamp=T0 + 6), "future", "timestamp"),
        (mutated(timestamp=float("nan")), "schema", "timestamp"),
        (mutated(t1_us=100.0, t2_us=300.0), "schema", "t2_us"),
        (mutated(t1_us=100.0), "schema", "t2_us"),
        (mutated(t2_us=100.0), "schema", "t1_us"),
        (mutated(t1_us=0.0, t2_us=0.0), "schema", "t1_us"),
        (mutated(t1_us=100.0, t2_us="80"), "schema", "t2_us"),
        (mutated(t1_us=float("inf"), t2_us=80.0), "schema", "t1_us"),
        (mutated(comm_qubits=0), "schema", "comm_qubits"),
        (mutated(comm_qubits=2.5), "schema", "comm_qubits"),
        (mutated(comm_qubits=True), "schema", "comm_qubits"),
        (mutated(fidelity_scale=1.5), "schema", "fidelity_scale"),
    ],
)
def test_invalid_adverts_are_rejected_with_the_reason(data, reason, where):
    with pytest.raises(AdvertError) as info:
        decode(data)
    assert info.value.reason == reason and info.value.reason in REASONS
    assert info.value.where == where
    assert info.value.to_dict()["kind"] == "advert"


def test_coherence_and_the_advertised_degradation_reach_the_snapshot_spec():
    data = json.loads(advert().encode())
    data.update(t1_us=2e6, t2_us=1e6, comm_qubits=2, fidelity_scale=0.9)
    spec = decode(json.dumps(data).encode()).node_spec()
    assert (spec.t1_us, spec.t2_us, spec.comm_qubits, spec.fidelity_scale) == (2e6, 1e6, 2, 0.9)
    old = json.loads(advert().encode())  # a 1.0 advert: none of them
    for key in ("fidelity_scale",):
        old.pop(key)
    old["version"] = "1.0"
    spec = decode(json.dumps(old).encode()).node_spec()
    assert spec.t1_us is None and spec.fidelity_scale == 1.0


def test_a_node_with_coherence_reaches_the_registry_snapshot():
    spec = attrs.evolve(A, t1_us=1e7, t2_us=2e7, comm_qubits=2)  # T2 = 2 T1: the limit
    wire = json.loads(advert(spec).encode())
    assert (wire["t1_us"], wire["t2_us"], wire["comm_qubits"]) == (1e7, 2e7, 2)
    reg = registry()
    assert decode(advert(spec).encode()).coherence == (1e7, 2e7)
    reg.offer(advert(spec).encode(), "peer-a")
    reg.offer(advert(B).encode(), "peer-b")  # none: absent on the wire, None in the snapshot
    assert "t1_us" not in json.loads(advert(B).encode())
    snap = reg.snapshot()
    a, b = snap.node("a"), snap.node("b")
    assert (a.t1_us, a.t2_us, a.comm_qubits) == (1e7, 2e7, 2)
    assert (b.t1_us, b.t2_us, b.comm_qubits) == (None, None, None)
    assert topology_from_dict(snap.to_dict(), "stored plan") == snap


def test_an_advert_with_t2_above_twice_t1_is_rejected_and_changes_nothing():
    reg = registry()
    reg.offer(advert(A).encode(), "peer-a")
    before = reg.snapshot().digest()
    data = json.loads(advert(A, seq=2).encode())
    data.update(t1_us=100.0, t2_us=201.0)
    with pytest.raises(AdvertError) as info:
        reg.offer(json.dumps(data).encode(), "peer-a")
    assert (info.value.reason, info.value.where) == ("schema", "t2_us")
    assert "T2 must be <= 2*T1" in str(info.value) and reg.rejected["schema"] == 1
    assert reg.snapshot().digest() == before and reg.snapshot().node("a").t1_us is None


def test_a_newer_minor_version_with_extra_fields_is_accepted():
    data = json.loads(advert().encode())
    data["version"], data["future_field"] = "1.7", {"anything": 1}
    assert decode(json.dumps(data).encode()).version == "1.7"


def test_an_advert_must_come_from_the_peer_it_names():
    with pytest.raises(AdvertError) as info:
        decode(advert().encode(), sender="someone-else")
    assert info.value.reason == "identity"


# -- the registry -------------------------------------------------------------------------


def test_entries_expire_to_unavailable_after_their_ttl_and_come_back():
    clock = Clock()
    reg = registry(clock)
    reg.offer(advert(A).encode(), "peer-a")
    assert [e.available for e in reg.entries()] == [True]
    clock.now = T0 + 10.5
    (entry,) = reg.entries()
    assert not entry.available and entry.age(clock.now) == pytest.approx(10.5)
    assert reg.snapshot().node("a").available is False
    reg.offer(advert(A, at=clock.now, seq=2).encode(), "peer-a")
    assert reg.entries()[0].available


def test_a_disconnected_peer_is_unavailable_until_it_advertises_again():
    reg = registry()
    reg.offer(advert(A).encode(), "peer-a")
    reg.disconnected("peer-a")
    assert not reg.entries()[0].available
    reg.offer(advert(A, seq=2).encode(), "peer-a")
    assert reg.entries()[0].available


def test_older_sequences_and_node_id_theft_are_rejected_and_counted():
    clock = Clock()
    reg = registry(clock)
    reg.offer(advert(A, seq=5).encode(), "peer-a")
    with pytest.raises(AdvertError, match="older"):
        reg.offer(advert(A, seq=4).encode(), "peer-a")
    with pytest.raises(AdvertError, match="held by peer peer-a"):
        reg.offer(advert(A, peer="intruder").encode(), "intruder")
    assert reg.rejected == {"stale": 1, "identity": 1} and reg.accepted == 1
    clock.now = T0 + 11  # the holder's entry expired: a restarted node may take its name
    reg.offer(advert(A, peer="new-peer", at=clock.now).encode(), "new-peer")
    assert reg.entries()[0].advert.peer_id == "new-peer"


def test_queries_filter_by_gate_fidelity_type_capacity_and_availability():
    reg = registry()
    for spec in SPECS:
        reg.offer(advert(spec).encode(), f"peer-{spec.name}")
    names = lambda entries: [e.node_id for e in entries]  # noqa: E731
    assert names(reg.query(gate="cx")) == ["a"]  # c is degraded (cx 0.85 < 0.9)
    assert names(reg.query(gate="cx", include_degraded=True)) == ["a", "c"]
    assert names(reg.query(gate="cz", min_fidelity=0.96)) == []
    assert names(reg.query(service_type="ion")) == ["b"]
    assert names(reg.query(min_qubits=5)) == ["a"]
    assert names(reg.query(available=False)) == []


def test_calls_and_reports_mark_nodes_degraded_and_reach_the_store_hook():
    samples = []
    clock = Clock()
    reg = registry(clock, samples=samples)
    reg.offer(advert(A).encode(), "peer-a")
    assert not reg.entry("a").degraded
    reg.report_fidelity("a", 0.8)
    assert reg.entry("a").reasons == ("fidelity 0.8 < 0.9",)
    clock.now += 10.5  # the report is older than the TTL: only the (fresh) advert counts
    reg.offer(advert(A, at=clock.now, seq=2).encode(), "peer-a")
    assert not reg.entry("a").degraded
    clock.now = T0
    reg.report_fidelity("a", 0.99)
    for ok in (True, False, False):
        reg.record_call("a", 2.0, ok)
    assert reg.entry("a").reasons == ("67% of recent calls failed",)
    for _ in range(20):
        reg.record_call("a", 400.0, True)
    assert reg.entry("a").reasons == ("median round trip 400.0 ms",)
    assert reg.snapshot().node("a").degraded
    kinds = [s.source for s in samples[:4]]
    assert kinds == ["advert:peer-a", "report", "advert:peer-a", "report"]
    calls = [s for s in samples if s.metric == "rtt_ms"]
    assert len(calls) == 23 and [s.ok for s in calls[:3]] == [True, False, False]
    assert samples[2].at.timestamp() == T0 + 10.5 and samples[3].at.timestamp() == T0
    assert all(s.subject == "a" and s.metric in ("fidelity", "rtt_ms") for s in samples)


def test_quality_samples_persist_through_the_store(tmp_path):
    from qorch.plugins import PluginSystem

    store = PluginSystem().create("store", "sqlite", data_dir=tmp_path)
    with store:
        store.upgrade()
        reg = NodeRegistry(
            NetworkSettings(), QualitySettings(), clock=Clock(), on_quality=store.add_quality_report
        )
        reg.offer(advert(A).encode(), "peer-a")
        reg.record_call("a", 5000.0, False)
        got = store.list_quality_reports("a")
    assert [(r.metric, r.value, r.ok) for r in got] == [
        ("rtt_ms", 5000.0, False),
        ("fidelity", 0.99, True),
    ]


def test_the_snapshot_joins_both_ends_of_a_link_at_their_worse_figures():
    reg = registry()
    reg.offer(advert(A, links=(LinkQuality("b", 0.97, 1.0),)).encode(), "peer-a")
    reg.offer(advert(B, links=(LinkQuality("a", 0.95, 2.0), LinkQuality("zz", 0.9, 1))).encode())
    topo = reg.snapshot()
    assert [(lk.a, lk.b, lk.fidelity, lk.latency_ms) for lk in topo.links] == [
        ("a", "b", 0.95, 2.0)
    ]
    assert topo.node("b").qubits == 4 and topo.node("b").node_type == "ion"


# -- fuzzing: nothing invalid gets in, nothing held is disturbed ---------------------------


def _as_bytes(value):
    return value if isinstance(value, bytes) else json.dumps(value).encode()


@settings(max_examples=300, deadline=None)
@given(corrupted_adverts(advert(A, seq=9).to_dict()).map(_as_bytes))
def test_fuzzed_adverts_never_corrupt_the_registry(data):
    reg = registry()
    reg.offer(advert(A, seq=10).encode(), "peer-a")
    reg.offer(advert(B).encode(), "peer-b")
    before = reg.snapshot().digest()
    try:
        accepted = reg.offer(data, "peer-a")
    except AdvertError as exc:
        assert exc.reason in REASONS and str(exc)
        assert reg.snapshot().digest() == before
        assert sum(reg.rejected.values()) == 1 and reg.accepted == 2
    else:  # only a harmless change can pass: it must then be a complete, valid advert
        assert accepted.peer_id == "peer-a"
        if accepted.node_id == A.name:  # the same node: never an older advert
            assert accepted.sequence >= 10
        else:  # another node id of the same peer (at most 64 per peer): a new entry
            assert reg.entry(accepted.node_id).advert == accepted
        assert decode(accepted.encode(), sender="peer-a") == accepted


def test_a_node_cannot_extend_its_own_ttl_and_a_clock_step_back_does_not_lock_it_out():
    clock = Clock()
    reg = registry(clock)
    reg.offer(advert(A, ttl=1e9, seq=500).encode(), "peer-a")
    clock.now = T0 + 10.5  # the configured 10 s cap applies, not the advert's 1e9 s
    assert not reg.entries()[0].available
    # restarted with a clock that stepped back: lower sequence, but the entry had expired
    reg.offer(advert(A, at=clock.now, seq=3).encode(), "peer-a")
    assert reg.entries()[0].available and reg.entries()[0].advert.sequence == 3


def test_one_peer_holds_a_bounded_number_of_node_ids_and_silent_ones_are_forgotten(monkeypatch):
    import qorch.coordinator.node_registry as module

    monkeypatch.setattr(module, "MAX_NODES_PER_PEER", 2)
    clock = Clock()
    reg = registry(clock)
    reg.offer(advert(A, peer="p").encode(), "p")
    reg.offer(advert(B, peer="p").encode(), "p")
    with pytest.raises(AdvertError, match="already advertises 2 nodes"):
        reg.offer(advert(C, peer="p").encode(), "p")
    reg.disconnected("p")
    clock.now = T0 + 10 * 60 + 1  # 60 TTLs of silence while disconnected
    assert reg.entries() == []
