"""A node's request handling (FR-005, DESIGN §6) without a network: validation, the
reservation protocol, the executor's idempotency, node types."""

from __future__ import annotations

import random
import time

import pytest
import trio

from qorch.builtin.default_node_type import Simulated, SimulatedOptions
from qorch.node.presets import PRESETS
from qorch.node.service import NodeService
from qorch.node.serving import node_type_for
from qorch.plugins import PluginSystem
from qorch.topology import (
    COHERENCE_PRESETS,
    GateSpec,
    NodeSpec,
    load_topology,
    topology_from_dict,
)
from tests.conftest import REPO

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def service(failure_rate=0.0, clock=None):
    node_type = Simulated(SimulatedOptions(failure_rate=failure_rate))
    spec = node_type.describe("qpu-a")
    return NodeService(spec, node_type, seed=1, clock=clock or Clock())


def corr(fragment="f1", attempt=0, job="j1"):
    return {"job_id": job, "fragment_id": fragment, "attempt": attempt, "request_id": "r-1"}


def call(svc, verb, body):
    return trio.run(svc, verb, body, "peer-x")


def reserve(svc, qubits=4, start=T0, duration=1.0, fragment="f1", min_fidelity=0.9):
    body = {
        "correlation": corr(fragment),
        "operation": "fragment",
        "qubits": qubits,
        "start": start,
        "duration_s": duration,
        "min_fidelity": min_fidelity,
    }
    return call(svc, "reserve", body)


OPS = [
    {"name": "h", "qubits": [0]},
    {"name": "cx", "qubits": [0, 1]},
    {"name": "measure", "qubits": [1]},
]


def test_simulated_has_two_presets_and_is_registered():
    assert {"superconducting", "trapped-ion"} <= set(PRESETS)
    ion = Simulated().describe("ion-1", "trapped-ion")
    assert ion.qubits == 12 and "rxx" in ion.gates and "cx" not in ion.gates
    assert PluginSystem().registry.names("node_type") == ["simulated"]


def test_the_presets_carry_their_coherence_times():
    sc, ion = Simulated().describe("sc-1"), Simulated().describe("ion-1", "trapped-ion")
    assert sc.node_type == "superconducting" and ion.node_type == "trapped-ion"
    assert (sc.t1_us, sc.t2_us) == COHERENCE_PRESETS["superconducting"] == (100.0, 80.0)
    assert (ion.t1_us, ion.t2_us) == COHERENCE_PRESETS["trapped-ion"]


class _Plugins:
    """``plugins.create`` of the built-in ``simulated`` and one plugin type ``atoms``."""

    def __init__(self, atoms_coherence=(3e6, 2e6)):
        self.atoms = _Atoms(atoms_coherence)

    def create(self, kind, name):
        assert kind == "node_type"
        return {"simulated": Simulated(), "atoms": self.atoms}[name]


class _Atoms:
    def __init__(self, coherence):
        self.coherence = coherence

    def describe(self, name, preset=None):
        t1, t2 = self.coherence or (None, None)
        return NodeSpec(name, 24, {"cz": GateSpec(0.99, 250.0)}, "atoms", t1_us=t1, t2_us=t2)


def _entry(node_type=None, **extra):
    raw = {"name": "n", "qubits": 2, "gates": {"h": 0.99}, **extra}
    if node_type is not None:
        raw["node_type"] = node_type
    return topology_from_dict({"nodes": [raw]}).node("n")


@pytest.mark.parametrize(
    ("node_type", "extra", "coherence"),
    [
        # the entry's own coherence wins over its node type's
        ("superconducting", {"t1_us": 1e7, "t2_us": 5e6}, (1e7, 5e6)),
        ("trapped-ion", {"coherence": "neutral-atom"}, COHERENCE_PRESETS["neutral-atom"]),
        ("atoms", {"t1_us": 1e7, "t2_us": 5e6}, (1e7, 5e6)),
        # otherwise the node type's
        ("superconducting", {}, COHERENCE_PRESETS["superconducting"]),
        ("trapped-ion", {}, COHERENCE_PRESETS["trapped-ion"]),
        ("atoms", {}, (3e6, 2e6)),
        # the generic simulated (an entry naming no node type) adds none
        (None, {}, (None, None)),
        ("simulated", {}, (None, None)),
    ],
)
def test_a_node_offers_its_entrys_coherence_else_its_node_types(node_type, extra, coherence):
    _, offered = node_type_for(_Plugins(), _entry(node_type, **extra))
    assert (offered.t1_us, offered.t2_us) == coherence
    assert set(offered.gates) == {"h", "measure", "reset"}  # the entry's gates stay


def test_a_plugin_type_without_coherence_and_the_noiseless_example_never_decohere():
    _, offered = node_type_for(_Plugins(atoms_coherence=None), _entry("atoms"))
    assert offered.t1_us is None
    ideal = load_topology(REPO / "examples" / "topologies" / "noiseless-two-nodes.toml")
    for spec in ideal.nodes:
        assert spec.node_type == "simulated"
        _, offered = node_type_for(PluginSystem(), spec)
        assert offered == spec and offered.t1_us is None and offered.t2_us is None


def test_bad_bodies_get_structured_errors():
    svc = service()
    reply = call(svc, "reserve", {"correlation": corr(), "operation": "x", "qubits": -1})
    assert reply == {
        "ok": False,
        "error": {
            "code": "bad_request",
            "message": "qubits = -1: expected an integer in [1, 100000]",
            "where": "qubits",
        },
    }
    reply = call(
        svc, "execute", {"correlation": {"job_id": "j"}, "reservation_id": "r1", "ops": []}
    )
    assert reply["error"]["where"] == "correlation.fragment_id"
    assert call(svc, "frobnicate", {})["error"]["code"] == "bad_request"


def test_a_conflict_is_rejected_with_a_next_window_that_is_then_granted():
    svc = service()
    first = reserve(svc, qubits=12, duration=2.0)
    assert first["ok"] and first["reservation"]["state"] == "GRANTED"
    assert first["correlation"]["request_id"] == "r-1"
    clash = reserve(svc, qubits=8, start=T0 + 1, fragment="f2")
    assert clash["error"]["code"] == "conflict"
    assert clash["error"]["next_window"] == {"start": T0 + 2.0, "end": T0 + 3.0}
    again = reserve(svc, qubits=8, start=clash["error"]["next_window"]["start"], fragment="f2")
    assert again["ok"]
    too_good = reserve(svc, qubits=1, start=T0 + 10, fragment="f3", min_fidelity=0.999)
    assert too_good["error"]["code"] == "fidelity"


def test_execute_is_idempotent_per_job_fragment_and_attempt():
    clock = Clock()
    svc = service(clock=clock)
    rid = reserve(svc)["reservation"]["reservation_id"]
    body = {"correlation": corr(), "reservation_id": rid, "ops": OPS}
    first = call(svc, "execute", body)
    assert first["ok"] and first["record"]["status"] == "ok" and not first["repeat"]
    expected = 0.9994 * 0.99 * 0.98
    assert first["record"]["fidelity"] == pytest.approx(expected)
    assert first["record"]["duration_ns"] == pytest.approx(70 + 300 + 700)
    clock.now += 0.5
    second = call(svc, "execute", body)
    assert second["repeat"] and second["record"] == first["record"]
    assert call(svc, "status", {})["executed"] == 1


def test_the_same_attempt_arriving_while_it_runs_waits_for_it_and_is_not_run_again():
    """A retry whose first try is still executing (a slow node, a lost reply) gets the
    first try's record: one execution (FR-010)."""
    svc = service(clock=time.time)
    svc.time_scale = 1e5  # ~0.1 s for these operations
    body = {"correlation": corr(), "reservation_id": "", "ops": OPS}
    replies = []

    async def both():
        granted = await svc("reserve", {
            "correlation": corr(), "operation": "fragment", "qubits": 4, "start": time.time(),
            "duration_s": 30.0, "min_fidelity": 0.9,
        }, "peer-x")  # fmt: skip
        body["reservation_id"] = granted["reservation"]["reservation_id"]

        async def one():
            replies.append(await svc("execute", body, "peer-x"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            await trio.sleep(0.01)
            nursery.start_soon(one)

    trio.run(both)
    assert [r["repeat"] for r in replies] == [False, True]
    assert replies[0]["record"] == replies[1]["record"] and svc.executions == 1


def test_execute_needs_a_granted_reservation_of_this_fragment_inside_its_window():
    clock = Clock()
    svc = service(clock=clock)
    rid = reserve(svc)["reservation"]["reservation_id"]
    other = {"correlation": corr("f9"), "reservation_id": rid, "ops": OPS}
    assert call(svc, "execute", other)["error"]["code"] == "no_reservation"
    missing = {"correlation": corr(), "reservation_id": "r404", "ops": OPS}
    assert call(svc, "execute", missing)["error"]["message"] == "unknown reservation"
    clock.now = T0 + 1.5
    late = {"correlation": corr(), "reservation_id": rid, "ops": OPS}
    assert "outside the reserved window" in call(svc, "execute", late)["error"]["message"]
    cancelled = call(svc, "cancel", {"correlation": corr(), "reservation_id": rid})
    assert cancelled["reservation"]["state"] == "CANCELLED"
    assert call(svc, "cancel", {"correlation": corr(), "reservation_id": rid})["error"]["code"] == (
        "not_found"
    )


def test_failures_and_degradation_follow_the_node_type_and_the_seed():
    outcomes = []
    for _ in range(2):
        node_type = Simulated(SimulatedOptions(failure_rate=0.5))
        spec = node_type.describe("a")
        rng = random.Random(7)
        outcomes.append([node_type.run(spec, OPS, rng, 1.0).error for _ in range(20)])
    assert outcomes[0] == outcomes[1] and None in outcomes[0] and any(outcomes[0])
    svc = service()
    svc.degrade(0.9)
    assert svc.changed.is_set()
    assert svc.advert("p", (), 1, 10.0).services["cx"].fidelity == pytest.approx(0.891)
    unknown = Simulated().run(Simulated().describe("a", "trapped-ion"), OPS, random.Random(), 1.0)
    assert unknown.error == "gate 'h' is not offered by a"


def test_a_fidelity_change_is_advertised_at_once_not_at_the_next_heartbeat(tmp_path):
    """FR-001: with a 60 s heartbeat, a degraded node's new fidelity still arrives at once."""
    from qorch.config import NetworkSettings, Settings
    from qorch.coordinator.discovery import Discovery
    from qorch.coordinator.node_registry import NodeRegistry
    from qorch.node.protocol import NODE_VERBS, REGISTRY_VERBS
    from qorch.node.serving import Advertiser
    from qorch.transport import PeerConfig

    settings = Settings(network=NetworkSettings(transport="tcp", refresh_s=60.0))
    transport = PluginSystem(settings).create("transport", "tcp")
    registry = NodeRegistry(settings.network, settings.quality)
    discovery = Discovery(registry, probe=False)
    svc = service()
    svc.clock = time.time
    listen = "/ip4/127.0.0.1/tcp/0"

    async def scenario():
        async with (
            transport.open(
                PeerConfig("c", tmp_path / "c", listen, verbs=REGISTRY_VERBS), discovery
            ) as coord,
            transport.open(PeerConfig("n", tmp_path / "n", listen, verbs=NODE_VERBS), svc) as node,
            trio.open_nursery() as nursery,
        ):
            discovery.peer = coord
            advertiser = Advertiser(svc, node, [coord.addresses[0]], settings)
            nursery.start_soon(advertiser.run)
            with trio.fail_after(10):
                while registry.entry("qpu-a") is None:
                    await trio.sleep(0.01)
            assert registry.entry("qpu-a").advert.fidelity == pytest.approx(0.99)
            svc.degrade(0.8)
            with trio.fail_after(5):  # far below the 60 s heartbeat
                while registry.entry("qpu-a").advert.fidelity > 0.9:
                    await trio.sleep(0.01)
            assert registry.entry("qpu-a").degraded and advertiser.sent == 2
            nursery.cancel_scope.cancel()

    trio.run(scenario)


def test_a_reservation_runs_one_attempt_only_and_only_inside_its_window():
    clock = Clock()
    svc = service(clock=clock)
    rid = reserve(svc)["reservation"]["reservation_id"]
    first = call(
        svc, "execute", {"correlation": corr(attempt=0), "reservation_id": rid, "ops": OPS}
    )
    assert first["ok"]
    second = call(
        svc, "execute", {"correlation": corr(attempt=1), "reservation_id": rid, "ops": OPS}
    )
    assert second["error"] == {"code": "no_reservation", "message": "reservation is used"}
    clock.now = T0 + 5  # after the window: a new attempt gets nothing either
    late = call(svc, "execute", {"correlation": corr(attempt=2), "reservation_id": rid, "ops": OPS})
    assert late["ok"] is False
    # the same attempt under another live window of the same job (a restarted
    # coordinator whose job had given its first window back): the stored record
    other = reserve(svc, start=clock.now, fragment="f1")["reservation"]["reservation_id"]
    again = call(
        svc, "execute", {"correlation": corr(attempt=0), "reservation_id": other, "ops": OPS}
    )
    assert again["repeat"] and again["record"] == first["record"]
    # under a window that is not the job's (unknown here), it is refused
    forged = call(
        svc, "execute", {"correlation": corr(attempt=0), "reservation_id": "r9-x", "ops": OPS}
    )
    assert forged["error"]["message"].startswith("attempt 0 already ran under r1-")
    assert call(svc, "status", {})["executed"] == 1


def test_only_the_owning_fragment_may_cancel_and_ids_are_not_guessable():
    svc = service()
    rid = reserve(svc)["reservation"]["reservation_id"]
    assert rid.startswith("r1-") and len(rid) > 8
    intruder = {"correlation": corr(job="attacker"), "reservation_id": rid}
    assert call(svc, "cancel", intruder)["error"]["code"] == "not_found"
    assert call(svc, "cancel", {"correlation": corr(), "reservation_id": rid})["ok"]


def test_windows_in_the_past_too_far_ahead_or_too_many_are_refused(monkeypatch):
    import qorch.node.service as service_module

    svc = service()
    past = reserve(svc, start=T0 - 10, duration=1.0)
    assert past["error"] == {
        "code": "invalid",
        "message": "the window has already ended on this node's clock",
    }
    assert reserve(svc, start=T0 + 7200)["error"]["message"].startswith("the window starts more")
    monkeypatch.setattr(service_module, "MAX_ACTIVE", 2)
    assert reserve(svc, qubits=1, fragment="a")["ok"] and reserve(svc, qubits=1, fragment="b")["ok"]
    assert reserve(svc, qubits=1, fragment="c")["error"]["message"] == (
        "this node already holds 2 reservations"
    )


def test_every_error_code_is_documented_in_the_protocol_contract():
    from pathlib import Path

    from qorch.node.protocol import ERROR_CODES, error

    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    assert [c for c in ERROR_CODES if f"`{c}`" not in text] == []
    with pytest.raises(ValueError):
        error("made_up", "no such code")


def test_a_job_wide_reservation_serves_every_fragment_of_its_job_only():
    svc = service()
    body = {
        "correlation": corr("*"),
        "operation": "job",
        "qubits": 4,
        "start": T0,
        "duration_s": 60.0,
        "min_fidelity": 0.9,
    }
    rid = call(svc, "reserve", body)["reservation"]["reservation_id"]
    for fragment in ("f1", "f2"):
        reply = call(
            svc, "execute", {"correlation": corr(fragment), "reservation_id": rid, "ops": OPS}
        )
        assert reply["ok"] and not reply["repeat"]
    stranger = {"correlation": corr("f1", job="j2"), "reservation_id": rid, "ops": OPS}
    assert call(svc, "execute", stranger)["error"]["code"] == "no_reservation"
    done = call(svc, "cancel", {"correlation": corr("*"), "reservation_id": rid})
    assert done["reservation"]["state"] == "CANCELLED" and call(svc, "status", {})["load"] == 0
