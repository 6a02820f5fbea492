"""The built-in plugin: the defaults that need nothing beyond the kernel's dependencies.

Found like any other plugin, through the entry point ``builtin`` of the ``qorch``
distribution (group ``qorch``). Each kind's defaults live in ``default_<kind>.py`` of
this package: parsers (``qasm2``, ``qasm3``, ``qiskit``) and the input detection, cost
models, placement strategies, fallback policies, the orchestrations (``distributed``,
``centralized``), the ``simulated`` node type and the fault injectors. Transports and
the store are plugin distributions under ``plugins/``.
Importing this module is cheap: parsers import qiskit only when they parse.
"""

from __future__ import annotations

import re

from loguru import logger

from qorch.builtin.default_cost_model import (
    FidelityOnly,
    Makespan,
    WeightedCost,
    WeightedOptions,
)
from qorch.builtin.default_fallback import NoFallback, ReplanAffected, ReplanAll
from qorch.builtin.default_fault import (
    CoordinatorCrash,
    CoordinatorCrashOptions,
    FidelityDegradation,
    FidelityDegradationOptions,
    LatencySpike,
    LatencySpikeOptions,
    LinkLatencySpike,
    LinkLatencySpikeOptions,
    NodeDrop,
    NodeDropOptions,
)
from qorch.builtin.default_node_type import Simulated, SimulatedOptions
from qorch.builtin.default_orchestration import Centralized, Distributed
from qorch.builtin.default_parser import Qasm2, Qasm3, QiskitObject
from qorch.builtin.default_placement import (
    Greedy,
    Partition,
    PartitionOptions,
    Teleport,
    TeleportOptions,
)
from qorch.hookspecs import Register, hookimpl
from qorch.source import CircuitSource

#: major version in an ``OPENQASM x.y;`` header -> parser name
VERSION_PARSERS = {"2": "qasm2", "3": "qasm3"}
#: statements only one dialect has, for programs without a header (see decision 0002)
_DIALECT_MARKERS = {
    "qasm2": re.compile(r'^\s*(?:qreg|creg)\s+\w+\s*\[|^\s*include\s+"qelib1\.inc"', re.M),
    "qasm3": re.compile(r'^\s*(?:qubit|bit)\s*[\[\s]|^\s*include\s+"stdgates\.inc"', re.M),
}


def sniff_dialect(text: str) -> str | None:
    """The one dialect whose declarations a header-less program uses, else ``None``."""
    found = [name for name, marker in _DIALECT_MARKERS.items() if marker.search(text)]
    return found[0] if len(found) == 1 else None


@hookimpl
def qorch_register_parsers(register: Register) -> None:
    """Register the OpenQASM 2, OpenQASM 3 and qiskit-object parsers (FR-003)."""
    register("qasm2", Qasm2())
    register("qasm3", Qasm3())
    register("qiskit", QiskitObject())


@hookimpl
def qorch_register_cost_models(register: Register) -> None:
    """Register the weighted (default), fidelity-only and makespan cost models (FR-004)."""

    register("weighted", WeightedCost, options=WeightedOptions)
    register("fidelity-only", FidelityOnly)
    register("makespan", Makespan)


@hookimpl
def qorch_register_placement_strategies(register: Register) -> None:
    """Register the greedy, partition (default) and teleport strategies (FR-004)."""

    register("greedy", Greedy)
    register("partition", Partition, options=PartitionOptions)
    register("teleport", Teleport, options=TeleportOptions)


@hookimpl
def qorch_register_fallback_policies(register: Register) -> None:
    """Register ``replan-affected`` (default), ``replan-all`` and ``none`` (FR-007)."""

    register("replan-affected", ReplanAffected)
    register("replan-all", ReplanAll)
    register("none", NoFallback)


@hookimpl
def qorch_register_orchestrations(register: Register) -> None:
    """Register ``distributed`` (default) and ``centralized`` (issue 17, DESIGN §9)."""

    register("distributed", Distributed)
    register("centralized", Centralized)


@hookimpl
def qorch_register_fault_injectors(register: Register) -> None:
    """Register ``latency-spike``, ``node-drop``, ``fidelity-degradation``,
    ``link-latency-spike`` and ``coordinator-crash`` (FR-013, issue 17)."""

    register("latency-spike", LatencySpike, options=LatencySpikeOptions)
    register("link-latency-spike", LinkLatencySpike, options=LinkLatencySpikeOptions)
    register("coordinator-crash", CoordinatorCrash, options=CoordinatorCrashOptions)
    register("node-drop", NodeDrop, options=NodeDropOptions)
    register("fidelity-degradation", FidelityDegradation, options=FidelityDegradationOptions)


@hookimpl
def qorch_register_node_types(register: Register) -> None:
    """Register ``simulated``: superconducting-like and trapped-ion-like presets (DESIGN §6)."""

    register("simulated", Simulated, options=SimulatedOptions)


@hookimpl(trylast=True)
def qorch_select_parser(source: CircuitSource, format: str) -> str | None:
    """Built-in detection: objects → ``qiskit``; text by ``format`` or its version header.

    A program without a header is read in the one dialect its declarations belong to
    (``qreg``/``creg``/``qelib1.inc`` → OpenQASM 2, ``qubit``/``bit``/``stdgates.inc`` →
    OpenQASM 3), as qiskit's own OpenQASM 2 reader does; otherwise nothing claims it and
    the caller reports the missing header.
    """
    if source.obj is not None:
        return "qiskit" if type(source.obj).__name__ == "QuantumCircuit" else None
    if format in ("qasm2", "qasm3"):
        return format
    if format != "auto":
        return None
    version, _line = source.header()
    if version is not None:
        return VERSION_PARSERS.get(version.split(".")[0])
    dialect = sniff_dialect(source.text or "")
    if dialect is not None:
        logger.warning("{} has no OPENQASM header; reading it as {}", source.origin, dialect)
    return dialect
