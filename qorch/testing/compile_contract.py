"""Contract tests for placement strategies and cost models (FR-004, NFR-001).

``tests/test_compile_contract.py`` subclasses these for every installed implementation,
so a strategy or cost model from a plugin pack is held to the same invariants:
plans that pass :func:`qorch.compile.check.plan_problems` — structure and, on the
circuit itself, the noise-free executed circuit equal to the input —, determinism under a
seed, and costs that are finite and consistent with the plan.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qorch.circuits import qft, uniform
from qorch.compile.check import plan_problems
from qorch.compile.compiler import compile_circuit
from qorch.interfaces import CostTerms, Plugins
from qorch.ir import Circuit, Operation, Register
from qorch.testing.generators import circuits, split_topologies, topologies
from qorch.topology import topology_from_dict


class StrategyContract:
    """Every placement strategy; subclasses provide ``strategy`` and ``plugins`` fixtures."""

    @pytest.mark.parametrize(
        ("n", "k", "all_to_all"), [(6, 2, True), (9, 3, True), (8, 4, False), (5, 5, False)]
    )
    def test_qft_plans_are_sound_and_deterministic(
        self, plugins: Plugins, strategy: str, n: int, k: int, all_to_all: bool
    ) -> None:
        topology = uniform(k, math.ceil(n / k) + 1, all_to_all)
        first = compile_circuit(qft(n), topology, plugins=plugins, strategy=strategy, seed=5)
        again = compile_circuit(qft(n), topology, plugins=plugins, strategy=strategy, seed=5)
        assert plan_problems(first, topology, qft(n)) == []
        assert first.canonical_json() == again.canonical_json()
        assert first.strategy == strategy and first.ebits >= 0

    def test_tight_capacity_is_respected(self, plugins: Plugins, strategy: str) -> None:
        topology = uniform(3, 3)
        plan = compile_circuit(qft(9), topology, plugins=plugins, strategy=strategy)
        assert plan_problems(plan, topology, qft(9)) == []
        assert sorted(plan.initial_placement).count("n0") == 3

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.data())
    def test_random_circuits_and_topologies(
        self, plugins: Plugins, strategy: str, data: st.DataObject
    ) -> None:
        circuit = data.draw(circuits())
        topology = data.draw(topologies(circuit.num_qubits))
        seed = data.draw(st.integers(0, 2**16))
        plan = compile_circuit(circuit, topology, plugins=plugins, strategy=strategy, seed=seed)
        assert plan_problems(plan, topology, circuit) == []
        again = compile_circuit(circuit, topology, plugins=plugins, strategy=strategy, seed=seed)
        assert plan.digest() == again.digest()

    def test_interacting_qubits_stay_in_one_connected_part(
        self, plugins: Plugins, strategy: str
    ) -> None:
        # a-b linked, c cut off (its link degraded) but largest: the 4-qubit chain fits
        # only on a+b, which needs one ebit; putting any of it on c has no plan at all.
        gates = {"h": 0.999, "cx": 0.99, "measure": 0.98}
        link = {"fidelity": 0.97, "latency_ms": 1.0}
        topology = topology_from_dict(
            {
                "nodes": [
                    {"name": "a", "qubits": 2, "gates": gates},
                    {"name": "b", "qubits": 2, "gates": gates},
                    {"name": "c", "qubits": 3, "gates": gates},
                ],
                "links": [
                    {"a": "a", "b": "b", **link},
                    {"a": "b", "b": "c", **link, "degraded": True},
                ],
            }
        )
        ops = [Operation("h", [0])] + [Operation("cx", [i, i + 1]) for i in range(3)]
        chain = Circuit([Register("q", 4)], [], ops)
        for seed in range(4):
            plan = compile_circuit(chain, topology, plugins=plugins, strategy=strategy, seed=seed)
            assert plan_problems(plan, topology, chain) == []
            assert sorted(plan.initial_placement) == ["a", "a", "b", "b"] and plan.ebits == 1

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.data())
    def test_disconnected_networks_still_give_plans(
        self, plugins: Plugins, strategy: str, data: st.DataObject
    ) -> None:
        circuit = data.draw(circuits())
        topology = data.draw(split_topologies(circuit.num_qubits))
        seed = data.draw(st.integers(0, 2**16))
        plan = compile_circuit(circuit, topology, plugins=plugins, strategy=strategy, seed=seed)
        assert plan_problems(plan, topology, circuit) == []


class CostModelContract:
    """Every cost model; subclasses provide ``cost_model`` and ``plugins`` fixtures."""

    def test_costs_are_finite_and_deterministic(self, plugins: Plugins, cost_model: str) -> None:
        model = plugins.create("cost_model", cost_model)
        for terms in (CostTerms(0.0, 0.0, 0), CostTerms(12.5, 0.3, 7, 2), CostTerms(1e4, 1.0, 900)):
            value = model.cost(terms)
            assert isinstance(value, float | int) and math.isfinite(value)
            assert model.cost(terms) == value

    def test_compiling_with_it_gives_a_sound_plan_costed_by_it(
        self, plugins: Plugins, cost_model: str
    ) -> None:
        topology = uniform(3, 4)
        plan = compile_circuit(qft(8), topology, plugins=plugins, cost_model=cost_model, seed=1)
        assert plan_problems(plan, topology, qft(8)) == []
        model = plugins.create("cost_model", cost_model)
        terms = CostTerms(
            plan.estimated_duration_ms, plan.cost["fidelity_risk"], plan.ebits, plan.moves
        )
        assert plan.cost["total"] == pytest.approx(model.cost(terms))
        assert plan.cost_model == cost_model
