"""Every installed parser, fallback policy, node type and fault injector against its
kind's contract (DESIGN §4; FR-003, FR-005, FR-007, FR-013), and mutations that show
each contract catches a wrong implementation."""

from __future__ import annotations

import random

import pytest

from qorch.builtin.default_fallback import ReplanAll
from qorch.builtin.default_node_type import Simulated
from qorch.errors import CircuitError
from qorch.faults import FaultEvent
from qorch.hookspecs import hookimpl
from qorch.interfaces import Outcome, Replan
from qorch.plugins import PluginSystem
from qorch.testing.kind_contracts import (
    FallbackContract,
    FaultContract,
    NodeTypeContract,
    ParserContract,
)

_plugins = PluginSystem()


@pytest.fixture(scope="module")
def plugins():
    return _plugins


class TestEveryParser(ParserContract):
    @pytest.fixture(params=_plugins.registry.names("parser"))
    def name(self, request):
        return request.param


class TestEveryFallback(FallbackContract):
    @pytest.fixture(params=_plugins.registry.names("fallback"))
    def name(self, request):
        return request.param


class TestEveryNodeType(NodeTypeContract):
    @pytest.fixture(params=_plugins.registry.names("node_type"))
    def name(self, request):
        return request.param


class TestEveryFault(FaultContract):
    @pytest.fixture(params=_plugins.registry.names("fault"))
    def name(self, request):
        return request.param


# -- mutations: a wrong implementation of each kind fails its contract -----------------


class _LeakyParser:
    """Lets a Python exception escape on bad input."""

    formats = ("qasm2",)

    def parse(self, source, limits):
        if "qreg" not in (source.text or ""):
            raise ValueError("boom")
        return _plugins.parser("qasm2").parse(source, limits)


class _KeepsFailedNode(ReplanAll):
    """Re-plans on the snapshot as it was, failed node included."""

    def replan_on(self, failure, plan, snapshot):
        return Replan(snapshot)


class _Inflating(Simulated):
    """A degradation raises its fidelity."""

    def run(self, spec, ops, rng, fidelity_scale):
        outcome = super().run(spec, ops, rng, 1.0)
        return Outcome(outcome.duration_ns, min(1.0, outcome.fidelity / fidelity_scale))


class _Unseeded:
    """Draws its node from the global random module, not the rng."""

    def events(self, topology, rng):
        node = random.choice([n.name for n in topology.nodes])
        return [FaultEvent("drop", node, random.random())]


class _Mutants:
    @hookimpl
    def qorch_register_parsers(self, register):
        register("leaky", _LeakyParser())

    @hookimpl
    def qorch_register_fallback_policies(self, register):
        register("keeps-failed", _KeepsFailedNode)

    @hookimpl
    def qorch_register_node_types(self, register):
        register("inflating", _Inflating)

    @hookimpl
    def qorch_register_fault_injectors(self, register):
        register("unseeded", _Unseeded)


MUTANTS = PluginSystem(extra=[("mutants", _Mutants())])


@pytest.mark.parametrize(
    ("contract", "test", "name"),
    [
        (ParserContract, "test_bad_input_is_a_circuit_error", "leaky"),
        (FallbackContract, "test_a_replan_leaves_the_failed_nodes_out", "keeps-failed"),
        (NodeTypeContract, "test_a_degradation_never_raises_fidelity", "inflating"),
        (FaultContract, "test_events_are_valid_and_seeded", "unseeded"),
    ],
)
def test_each_contract_catches_a_wrong_implementation(contract, test, name):
    method = getattr(contract(), test)
    kwargs = {"text": "h q[0];"} if contract is ParserContract else {}
    with pytest.raises(Exception):  # noqa: B017 - any failure of the contract test will do
        for attempt in range(5):  # the unseeded mutant agrees with itself by chance rarely
            random.seed(attempt)
            method(MUTANTS, name, **kwargs)


def test_the_leaky_parser_really_leaks():
    """The parser mutation is a real one: the built-in parser answers the same input with
    a CircuitError, the mutant with a ValueError."""
    with pytest.raises(CircuitError):
        MUTANTS.parser("qasm2").parse(_source("h q[0];"), MUTANTS.settings.limits)
    with pytest.raises(ValueError):
        MUTANTS.parser("leaky").parse(_source("h q[0];"), MUTANTS.settings.limits)


def _source(text):
    from qorch.source import CircuitSource

    return CircuitSource(text)
