"""Experiment suites (FR-013): what ``qorch bench run SUITE`` runs, read from TOML.

A suite names circuits, topologies, modes (transports: ``libp2p``, ``central``), fault
scenarios, placement strategies, repeats, shots and one seed::

    name = "quick"
    seed = 7
    shots = 500
    repeats = 1
    modes = ["libp2p", "central"]
    topologies = ["../topologies/noiseless-two-nodes.toml"]   # relative to the suite
    strategies = ["partition"]                                # optional

    [[circuits]]
    file = "../circuits/ghz5.qasm"          # or glob = "...", or:
    [[circuits]]
    generator = "qft"                       # qft | ghz | qaoa | random
    sizes = [4, 6]
    operations = 30                         # random only

    [[scenarios]]
    name = "baseline"                       # no faults
    [[scenarios]]
    name = "degraded"
    faults = [{kind = "fidelity-degradation", node = "random", fidelity_scale = 0.95}]

Its *cells* are every (topology, mode, scenario, strategy, circuit, repeat); one local
cluster serves all circuits of a (topology, mode, scenario, strategy, repeat) group, its
fault schedule starting when the cluster is up. A bad suite raises
:class:`~qorch.errors.ConfigError` naming the file and key.
"""

from __future__ import annotations

import glob as globbing
import tomllib
from pathlib import Path
from typing import Any

import attrs

from qorch.errors import ConfigError
from qorch.interfaces import Plugins
from qorch.ir import Circuit

GENERATORS = ("qft", "ghz", "qaoa", "random")
MODES = ("libp2p", "central")


@attrs.frozen
class CircuitEntry:
    """One circuit of a suite: a file, or a generated circuit of ``size`` qubits."""

    name: str
    file: Path | None = None
    generator: str | None = None
    size: int = 0
    operations: int = 0

    def load(self, plugins: Plugins, seed: int) -> Circuit:
        """The circuit (a generated one takes ``seed``)."""
        from qorch import circuits as gen

        if self.file is not None:
            from qorch.ingest.load import load_circuit_as

            _parser, circuit = load_circuit_as(
                self.file.read_bytes(),
                plugins=plugins,
                limits=plugins.settings.limits,
                origin=str(self.file),
                directory=self.file.parent,
            )
            return circuit
        if self.generator == "qft":
            return gen.qft(self.size)
        if self.generator == "ghz":
            return gen.ghz(self.size)
        if self.generator == "qaoa":
            return measure_all(gen.qaoa(self.size, seed=seed))
        return measure_all(gen.random_circuit(self.size, self.operations, seed=seed))


def measure_all(circuit: Circuit) -> Circuit:
    """``circuit`` with every qubit measured into a new register ``c`` (unchanged if it
    already measures something)."""
    from qorch.ir import Operation, Register

    if circuit.num_clbits:
        return circuit
    n = circuit.num_qubits
    ops = [*circuit.operations, *(Operation("measure", [q], [q]) for q in range(n))]
    return Circuit(circuit.qregs, [Register("c", n)], ops)


@attrs.frozen
class Scenario:
    """A named list of fault entries (``[[faults]]`` tables, see :mod:`qorch.faults`)."""

    name: str
    faults: tuple[dict[str, Any], ...] = ()


@attrs.frozen
class Suite:
    """A parsed suite (module docstring)."""

    name: str
    path: Path
    seed: int
    shots: int
    repeats: int
    modes: tuple[str, ...]
    topologies: tuple[Path, ...]
    strategies: tuple[str | None, ...]
    circuits: tuple[CircuitEntry, ...]
    scenarios: tuple[Scenario, ...]

    def groups(self) -> list[tuple[Path, str, Scenario, str | None, int]]:
        """Every (topology, mode, scenario, strategy, repeat), in a stable order."""
        return [
            (t, m, sc, st, r)
            for t in self.topologies
            for m in self.modes
            for sc in self.scenarios
            for st in self.strategies
            for r in range(self.repeats)
        ]

    @property
    def cells(self) -> int:
        """How many runs the suite makes."""
        return len(self.groups()) * len(self.circuits)


class _Reader:
    def __init__(self, data: dict[str, Any], path: Path) -> None:
        self.data, self.path = data, path

    def bad(self, key: str, message: str) -> ConfigError:
        return ConfigError([f"{self.path}: {key}: {message}"])

    def integer(self, key: str, default: int, low: int) -> int:
        value = self.data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise self.bad(key, f"{value!r}: expected an integer >= {low}")
        return value

    def strings(self, key: str, default: list[str] | None = None) -> list[str]:
        value = self.data.get(key, default)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.bad(key, f"{value!r}: expected a non-empty list of strings")
        return value

    def relative(self, text: str) -> Path:
        return (self.path.parent / text).resolve()


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"cannot read the suite {path}: {exc}"]) from None
    r = _Reader(data, path)
    known = {"name", "seed", "shots", "repeats", "modes", "topologies", "strategies"}
    unknown = sorted(set(data) - known - {"circuits", "scenarios"})
    if unknown:
        raise r.bad(unknown[0], "unknown key (known: " + ", ".join(sorted(known)) + ")")
    modes = r.strings("modes", list(MODES))
    for mode in modes:
        if mode not in MODES:
            raise r.bad("modes", f"{mode!r}: expected one of {', '.join(MODES)}")
    topologies = [r.relative(t) for t in r.strings("topologies")]
    for t in topologies:
        if not t.is_file():
            raise r.bad("topologies", f"{t} does not exist")
    strategies: list[str | None] = list(r.strings("strategies")) if "strategies" in data else [None]
    return Suite(
        name=str(data.get("name", path.stem)),
        path=path,
        seed=r.integer("seed", 0, 0),
        shots=r.integer("shots", 1000, 1),
        repeats=r.integer("repeats", 1, 1),
        modes=tuple(modes),
        topologies=tuple(topologies),
        strategies=tuple(strategies),
        circuits=tuple(_circuits(r, data.get("circuits"))),
        scenarios=tuple(_scenarios(r, data.get("scenarios", [{"name": "baseline"}]))),
    )


def _circuits(r: _Reader, raw: Any) -> list[CircuitEntry]:
    if not isinstance(raw, list) or not raw:
        raise r.bad("circuits", "expected one or more [[circuits]] tables")
    out: list[CircuitEntry] = []
    for i, entry in enumerate(raw):
        key = f"circuits[{i}]"
        if not isinstance(entry, dict):
            raise r.bad(key, "expected a table")
        if "file" in entry:
            out.append(CircuitEntry(Path(entry["file"]).stem, file=r.relative(entry["file"])))
        elif "glob" in entry:
            matches = sorted(globbing.glob(str(r.relative(entry["glob"]))))
            if not matches:
                raise r.bad(key, f"glob {entry['glob']!r} matches no file")
            out.extend(CircuitEntry(Path(m).stem, file=Path(m)) for m in matches)
        elif entry.get("generator") in GENERATORS:
            sizes = entry.get("sizes")
            if not isinstance(sizes, list) or not all(isinstance(n, int) and n > 1 for n in sizes):
                raise r.bad(f"{key}.sizes", f"{sizes!r}: expected a list of integers > 1")
            ops = entry.get("operations", 30)
            if not isinstance(ops, int) or ops < 1:
                raise r.bad(f"{key}.operations", f"{ops!r}: expected an integer >= 1")
            g = entry["generator"]
            out.extend(CircuitEntry(f"{g}{n}", generator=g, size=n, operations=ops) for n in sizes)
        else:
            raise r.bad(
                key, "expected file = ..., glob = ... or generator = " + "|".join(GENERATORS)
            )
    for entry in out:
        if entry.file is not None and not entry.file.is_file():
            raise r.bad("circuits", f"{entry.file} does not exist")
    return out


def _scenarios(r: _Reader, raw: Any) -> list[Scenario]:
    if not isinstance(raw, list) or not raw:
        raise r.bad("scenarios", "expected one or more [[scenarios]] tables")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise r.bad(f"scenarios[{i}]", "expected a table with name = '...'")
        faults = entry.get("faults", [])
        if not isinstance(faults, list):
            raise r.bad(f"scenarios[{i}].faults", "expected a list of fault tables")
        out.append(Scenario(entry["name"], tuple(faults)))
    if len({s.name for s in out}) != len(out):
        raise r.bad("scenarios", "scenario names must differ")
    return out
