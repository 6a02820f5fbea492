"""``qorch bench world``: what the world simulation of one job costs (DESIGN §6; not a test).

One distributed job of the size issue 14 names — a 20-qubit (``--qubits``) random circuit of 50
operations on the ten-node small-world example, 1,000 shots — compiled once and simulated
``runs`` times with distinct seeds (planned idle times, so every run simulates the same
noise). Writes ``world-<qubits>.json`` and ``.md``: seconds per simulation, the qubits
simulated (data plus the share halves open at once), ebits and noise channels.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qorch.circuits import random_circuit
from qorch.compile.compiler import compile_circuit
from qorch.interfaces import Plugins
from qorch.runtime.world import planned_timing, simulate
from qorch.stats import summary, write_result
from qorch.topology import load_topology

REPO = Path(__file__).resolve().parents[2]
QUBITS, OPS, SHOTS = 20, 50, 1000


def run(
    plugins: Plugins, out_dir: str, runs: int = 2, qubits: int = QUBITS, progress: Any = print
) -> dict[str, Any]:
    """Simulate the job ``runs`` times; write the results."""

    topology = load_topology(REPO / "examples" / "topologies" / "small-world-10.toml")
    circuit = random_circuit(qubits, OPS, seed=1)
    plan = compile_circuit(circuit, topology, plugins=plugins, seed=1, shots=SHOTS)
    seconds, last = [], None
    for seed in range(runs):
        began = time.perf_counter()
        last = simulate(
            circuit, plan, topology, shots=SHOTS, seed=seed, timing=planned_timing(plan)
        )
        seconds.append(time.perf_counter() - began)
        progress(f"run {seed + 1}/{runs}: {seconds[-1]:.1f} s")
    assert last is not None
    data = {
        "circuit": f"random_circuit({qubits}, {OPS}, seed=1)",
        "simulated": last.simulated,
        "reason": last.reason,
        "topology": "small-world-10",
        "shots": SHOTS,
        "ebits": plan.ebits,
        "simulated_qubits": last.simulated_qubits,
        "method": last.method,
        "noise_channels": last.noise_channels,
        "achieved_fidelity": last.achieved_fidelity,
        "estimated_fidelity": plan.estimated_fidelity,
        "seconds": summary(seconds),
    }
    path = write_result(out_dir, f"world-{qubits}", data)
    data["file"] = str(path)
    Path(out_dir, f"world-{qubits}.md").write_text(markdown(data) + "\n")
    return data


def markdown(data: dict[str, Any]) -> str:
    """The result as a table."""
    s = data["seconds"]
    return "\n".join(
        [
            "| job | ebits | qubits simulated | method | noise channels | median s | max s | n |",
            "|---|---|---|---|---|---|---|---|",
            f"| {data['circuit']} on {data['topology']}, {data['shots']} shots | "
            f"{data['ebits']} | {data['simulated_qubits']} | {data.get('method', '')} | "
            f"{data['noise_channels']} | "
            f"{s['median']:.1f} | {s['max']:.1f} | {s['n']} |",
        ]
    )
