"""The presets of the simulated node type (DESIGN §6): gate tables and coherence per
kind of QPU, which a topology entry or ``[node] node_type`` names instead of a node type
plugin (:func:`qorch.node.serving.node_type_for`).
"""

from __future__ import annotations

from typing import Any

from qorch.topology import COHERENCE_PRESETS

#: per preset: ``qubits``, ``gates`` (name -> (fidelity, duration_ns)), ``coherence``
#: ((T1, T2) in µs, from :data:`qorch.topology.COHERENCE_PRESETS`)
PRESETS: dict[str, dict[str, Any]] = {
    "superconducting": {
        "qubits": 16,
        "coherence": COHERENCE_PRESETS["superconducting"],
        "gates": {
            "rz": (1.0, 0.0),
            "sx": (0.9995, 35.0),
            "x": (0.9995, 35.0),
            "h": (0.9994, 70.0),
            "cx": (0.99, 300.0),
            "cz": (0.991, 250.0),
            "measure": (0.98, 700.0),
            "reset": (0.99, 1000.0),
        },
    },
    "trapped-ion": {
        "qubits": 12,
        "coherence": COHERENCE_PRESETS["trapped-ion"],
        "gates": {
            "rx": (0.9999, 10_000.0),
            "ry": (0.9999, 10_000.0),
            "rz": (1.0, 0.0),
            "rxx": (0.995, 200_000.0),
            "rzz": (0.995, 200_000.0),
            "measure": (0.997, 100_000.0),
            "reset": (0.999, 50_000.0),
        },
    },
}
