"""The contrib pack qorch-metis: found by entry point, sound plans, capacity repair."""

from __future__ import annotations

import math

from qorch.circuits import qft, uniform
from qorch.compile.compiler import compile_circuit
from qorch.plugins import PluginSystem
from qorch.testing.plan_checks import plan_problems


def test_registered_through_its_entry_point_only():
    impl = PluginSystem().get("placement", "metis")
    assert (impl.distribution, impl.plugin) == ("qorch-metis", "metis")


def test_qft_plans_are_sound_and_competitive():
    plugins = PluginSystem()
    for k in (2, 3, 4):
        topology = uniform(k, math.ceil(16 / k) + 1)
        metis = compile_circuit(qft(16), topology, plugins=plugins, strategy="metis", seed=3)
        greedy = compile_circuit(qft(16), topology, plugins=plugins, strategy="greedy")
        assert plan_problems(metis, topology) == []
        assert metis.ebits <= greedy.ebits * 1.5


def test_capacity_is_repaired_when_metis_overfills():
    plugins = PluginSystem()
    topology = uniform(3, 3)  # exactly full: METIS' balance tolerance must be repaired
    plan = compile_circuit(qft(9), topology, plugins=plugins, strategy="metis", seed=1)
    assert plan_problems(plan, topology) == []


def test_deterministic_under_a_seed():
    plugins = PluginSystem()
    topology = uniform(4, 4)
    a = compile_circuit(qft(12), topology, plugins=plugins, strategy="metis", seed=9)
    b = compile_circuit(qft(12), topology, plugins=plugins, strategy="metis", seed=9)
    assert a.digest() == b.digest()
