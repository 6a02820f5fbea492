"""``qorch bench run SUITE --out DIR`` (FR-013): every cell of a suite on real clusters.

For each (topology, arm, scenario, strategy, repeat) group a cluster is started — one
``qorch node`` process per node on 127.0.0.1 and a ``qorch coordinator`` process of its
own, over the arm's transport and orchestration
(:mod:`qorch.harness.process_cluster`) — with the scenario's fault schedule, seeded by
the suite's seed and the repeat, so it is the same in every arm; each circuit is
submitted as one job over HTTP and waited for (through coordinator crashes: rows carry
``coordinator_restarts``).
Every run appends one JSON line to ``DIR/results.jsonl`` as soon as it ends, so a rerun
skips the cells already there (resumable). A rich progress bar shows cells done and
the time left. At the end ``DIR/environment.json`` records the suite, configuration,
package versions, commit and machine, and the report is written
(:mod:`qorch.harness.report`).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs
import trio
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from qorch.errors import QorchError
from qorch.harness.process_cluster import ProcessCluster, process_cluster
from qorch.harness.report import write_report
from qorch.harness.suite import Arm, CircuitEntry, Scenario, Suite
from qorch.interfaces import Plugins
from qorch.plugins import PluginSystem
from qorch.qasm_emit import to_qasm3
from qorch.runtime.job import figures_of
from qorch.scenarios import build_schedule, scenario_injectors
from qorch.stats import commit, machine
from qorch.topology import load_topology

RESULTS = "results.jsonl"


def cell_key(
    topology: Path, arm: Arm, scenario: str, strategy: str | None, circuit: str, repeat: int
) -> str:
    """The identity of a run in ``results.jsonl``."""
    return "|".join([topology.name, arm.name, scenario, strategy or "-", circuit, str(repeat)])


def read_results(out_dir: Path) -> list[dict[str, Any]]:
    """The rows written so far (a line cut short by a crash is ignored)."""
    path = out_dir / RESULTS
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def run_suite(
    suite: Suite, plugins: PluginSystem, out_dir: Path, *, progress: bool = True
) -> dict[str, Any]:
    """Run every cell not in ``out_dir/results.jsonl`` yet; write the report."""

    out_dir.mkdir(parents=True, exist_ok=True)
    done = {row["cell"] for row in read_results(out_dir)}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(suite.name, total=suite.cells, completed=len(done))

        def advance() -> None:
            bar.advance(task)

        async def every_group() -> int:  # one trio run for the whole suite
            count = 0
            for topology, arm, scenario, strategy, repeat in suite.groups():
                todo = [
                    (entry, key)
                    for entry in suite.circuits
                    if (key := cell_key(topology, arm, scenario.name, strategy, entry.name, repeat))
                    not in done
                ]
                if not todo:
                    continue
                bar.update(task, description=f"{arm.name} {scenario.name} r{repeat}")
                arm_plugins = plugins.with_transport(arm.transport, arm.orchestration)
                group = _Group(suite, arm_plugins, topology, arm, scenario, strategy, repeat)
                count += await group.run(todo, out_dir, advance)
            return count

        ran = trio.run(every_group)
    environment = _environment(suite, plugins)
    (out_dir / "environment.json").write_text(json.dumps(environment, indent=1, sort_keys=True))
    report = write_report(suite, read_results(out_dir), environment, out_dir)
    return {"ran": ran, "skipped": len(done), "report": str(report)}


class _Group:
    """One cluster and the circuits run on it."""

    def __init__(
        self,
        suite: Suite,
        plugins: Plugins,
        topology: Path,
        arm: Arm,
        scenario: Scenario,
        strategy: str | None,
        repeat: int,
    ) -> None:

        self.suite, self.plugins, self.topology = suite, plugins, topology
        self.arm, self.scenario, self.strategy, self.repeat = arm, scenario, strategy, repeat
        #: repeats are distinct samples: the job seed is the suite's plus the repeat index
        #: (the circuit, built with the suite's seed, stays the same)
        self.job_seed = suite.seed + repeat
        injectors = scenario_injectors(
            plugins, list(scenario.faults), f"{suite.path}: scenario {scenario.name}: faults"
        )
        # the same schedule in every arm: it depends on the suite's seed and the repeat only
        self.schedule = build_schedule(
            injectors, load_topology(topology), suite.seed * 1000 + repeat
        )

    async def run(self, todo: list[tuple[CircuitEntry, str]], out_dir: Path, advance: Any) -> int:

        faults = self.schedule if self.schedule.events else None
        with tempfile.TemporaryDirectory(prefix="qorch-suite-") as tmp:
            cluster = process_cluster(self.topology, self.plugins, Path(tmp), faults=faults)
            async with cluster as running:
                for entry, key in todo:
                    row = await self._one(entry, key, running)
                    with (out_dir / RESULTS).open("a") as f:
                        f.write(json.dumps(row, sort_keys=True) + "\n")
                    advance()
        return len(todo)

    async def _one(self, entry: CircuitEntry, key: str, cluster: ProcessCluster) -> dict[str, Any]:
        """Run one circuit through the group's coordinator (over HTTP); its result row."""

        row: dict[str, Any] = {
            "cell": key,
            "topology": self.topology.name,
            "mode": self.arm.name,
            "orchestration": self.arm.orchestration,
            "transport": self.arm.transport,
            "scenario": self.scenario.name,
            "strategy": self.strategy or self.plugins.settings.compiler.placement,
            "circuit": entry.name,
            "repeat": self.repeat,
            "seed": self.job_seed,
            "shots": self.suite.shots,
            "schedule_digest": self.schedule.digest(),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        began = time.perf_counter()
        try:
            circuit = entry.load(self.plugins, self.suite.seed)
        except QorchError as exc:
            failure = exc.to_dict()
            return {**row, "success": False, "failure": failure.get("kind"),
                    "failure_message": failure.get("message"), "latency_ms": 0.0}  # fmt: skip
        body = {"qasm": to_qasm3(circuit), "format": "qasm3", "shots": self.suite.shots,
                "seed": self.job_seed, "strategy": self.strategy}  # fmt: skip
        result = await cluster.submit_and_wait(body)
        row["latency_ms"] = (time.perf_counter() - began) * 1000
        row["coordinator_restarts"] = cluster.restarts
        if "error" in result:
            error = result["error"]
            return {**row, "success": False, "failure": error.get("kind"),
                    "failure_message": error.get("message")}  # fmt: skip
        return {
            **row,
            "success": True,
            "failure": None,
            "qubits": circuit.num_qubits,
            "plan_digest": result["plan_digest"],
            "fidelity_estimate": result["fidelity_estimate"],
            **figures_of(result),
        }


def _environment(suite: Suite, plugins: Plugins) -> dict[str, Any]:

    versions: dict[str, str | None] = {}
    for dist in ("qorch-core", "qiskit", "qiskit-aer", "libp2p", "trio", "matplotlib"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    settings = plugins.settings
    return {
        "suite": suite.name,
        "suite_file": str(suite.path),
        "seed": suite.seed,
        "cells": suite.cells,
        "commit": commit(),
        "machine": machine(),
        "versions": versions,
        "config": {
            "compiler": attrs.asdict(settings.compiler),
            "runtime": attrs.asdict(settings.runtime),
            "network": attrs.asdict(settings.network),
        },
    }
