"""Experiment suites (FR-013): what ``qorch bench run SUITE`` runs, read from TOML.

A suite names circuits, topologies, the arms of orchestration x transport (issue 17),
fault scenarios, placement strategies, repeats, shots and one seed::

    name = "quick"
    seed = 7
    shots = 500
    repeats = 1
    orchestrations = ["distributed", "centralized"]          # the default: both
    transports = ["libp2p", "tcp"]                          # the default: both
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

The old ``modes = ["libp2p", "central"]`` still works: ``libp2p`` is ``distributed``
over libp2p, ``central`` (or ``tcp``) ``centralized`` over tcp. Every orchestration runs
over every transport, so the two effects can be told apart; a row's ``mode`` is its
arm, ``orchestration/transport``.

Its *cells* are every (topology, arm, scenario, strategy, circuit, repeat); one local
cluster serves all circuits of a (topology, arm, scenario, strategy, repeat) group, its
fault schedule starting when the cluster is up. A bad suite raises
:class:`~qorch.errors.ConfigError` naming the file and key (an unknown orchestration or
transport with the choices).
"""

from __future__ import annotations

import glob as globbing
import tomllib
from pathlib import Path
from typing import Any

import attrs

from qorch import circuits as gen
from qorch.converters import Check, Invalid, Problem, Rejected, integer, one_of, structure
from qorch.errors import ConfigError
from qorch.ingest.load import load_circuit_as
from qorch.interfaces import Plugins
from qorch.ir import Circuit, Operation, Register
from qorch.plugins import PluginSystem

GENERATORS = ("qft", "ghz", "qaoa", "random")
#: what the old ``modes = [...]`` named, as (orchestration, transport): ``libp2p`` was the
#: distributed setting, ``central`` (now ``tcp``) the centralized baseline (issue 17)
LEGACY_MODES = {
    "libp2p": ("distributed", "libp2p"),
    "tcp": ("centralized", "tcp"),
    "central": ("centralized", "tcp"),
}
ORCHESTRATIONS = ("distributed", "centralized")
TRANSPORTS = ("libp2p", "tcp")


@attrs.frozen
class Arm:
    """One arm of the 2 x 2 design (issue 17): an orchestration over a transport."""

    orchestration: str
    transport: str

    @property
    def name(self) -> str:
        """``orchestration/transport``: the ``mode`` of a result row."""
        return f"{self.orchestration}/{self.transport}"


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

        if self.file is not None:
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
    arms: tuple[Arm, ...]
    topologies: tuple[Path, ...]
    strategies: tuple[str | None, ...]
    circuits: tuple[CircuitEntry, ...]
    scenarios: tuple[Scenario, ...]

    def groups(self) -> list[tuple[Path, Arm, Scenario, str | None, int]]:
        """Every (topology, arm, scenario, strategy, repeat), in a stable order."""
        return [
            (t, m, sc, st, r)
            for t in self.topologies
            for m in self.arms
            for sc in self.scenarios
            for st in self.strategies
            for r in range(self.repeats)
        ]

    @property
    def cells(self) -> int:
        """How many runs the suite makes."""
        return len(self.groups()) * len(self.circuits)


STRINGS = Check("a non-empty list of strings", bool)
SIZES = Check("a list of integers > 1", lambda v: all(n > 1 for n in v))


@attrs.frozen
class CircuitSpec:
    """One ``[[circuits]]`` table: ``file``, ``glob`` or ``generator`` (with ``sizes``,
    and ``operations`` for ``random``)."""

    file: str | None = None
    glob: str | None = None
    generator: str | None = attrs.field(default=None, validator=one_of(*GENERATORS).optional())
    sizes: tuple[int, ...] = attrs.field(default=(), validator=SIZES)
    operations: int = attrs.field(default=30, validator=integer(1))

    def __attrs_post_init__(self) -> None:
        if [self.file, self.glob, self.generator].count(None) != 2:
            choices = "|".join(GENERATORS)
            raise Invalid(f"expected file = ..., glob = ... or generator = {choices}")
        if self.generator is not None and not self.sizes:
            raise Invalid(SIZES.message, where="sizes")

    def entries(self, base: Path) -> list[CircuitEntry]:
        """The circuits this table names (a file's relative to ``base``)."""
        if self.file is not None:
            return [CircuitEntry(Path(self.file).stem, file=(base / self.file).resolve())]
        if self.glob is not None:
            matches = sorted(globbing.glob(str((base / self.glob).resolve())))
            return [CircuitEntry(Path(m).stem, file=Path(m)) for m in matches]
        g = self.generator
        return [
            CircuitEntry(f"{g}{n}", generator=g, size=n, operations=self.operations)
            for n in self.sizes
        ]


@attrs.frozen(kw_only=True)
class SuiteFile:
    """A suite file as written (module docstring), before paths are resolved."""

    name: str | None = None
    seed: int = attrs.field(default=0, validator=integer(0))
    shots: int = attrs.field(default=1000, validator=integer(1))
    repeats: int = attrs.field(default=1, validator=integer(1))
    orchestrations: tuple[str, ...] | None = attrs.field(default=None, validator=STRINGS.optional())
    transports: tuple[str, ...] | None = attrs.field(default=None, validator=STRINGS.optional())
    modes: tuple[str, ...] | None = attrs.field(
        default=None,
        validator=Check(
            "a non-empty list of " + " or ".join(repr(m) for m in LEGACY_MODES),
            lambda v: bool(v) and set(v) <= set(LEGACY_MODES),
        ).optional(),
    )
    topologies: tuple[str, ...] = attrs.field(validator=STRINGS)
    strategies: tuple[str, ...] | None = attrs.field(default=None, validator=STRINGS.optional())
    circuits: tuple[CircuitSpec, ...] = attrs.field(
        validator=Check("one or more [[circuits]] tables", bool)
    )
    scenarios: tuple[Scenario, ...] = attrs.field(
        default=(Scenario("baseline"),), validator=Check("one or more [[scenarios]] tables", bool)
    )

    def __attrs_post_init__(self) -> None:
        if len({s.name for s in self.scenarios}) != len(self.scenarios):
            raise Invalid("scenario names must differ", where="scenarios")
        if self.modes is not None and (self.orchestrations or self.transports):
            raise Invalid(
                "give orchestrations and transports, or the old modes, not both", where="modes"
            )

    def arms(self) -> tuple[Arm, ...]:
        """Every orchestration over every transport; the old ``modes`` as they were meant."""
        if self.modes is not None:
            return tuple(dict.fromkeys(Arm(*LEGACY_MODES[m]) for m in self.modes))
        return tuple(
            Arm(o, t)
            for o in self.orchestrations or ORCHESTRATIONS
            for t in self.transports or TRANSPORTS
        )


def _unknown_names(suite: SuiteFile, plugins: PluginSystem | None) -> list[Problem]:
    """The orchestrations and transports ``plugins`` does not have, naming the choices."""
    if plugins is None:
        return []
    problems = []
    for field, kind, names in (
        ("orchestrations", "orchestration", {a.orchestration for a in suite.arms()}),
        ("transports", "transport", {a.transport for a in suite.arms()}),
    ):
        known = plugins.registry.names(kind)
        for name in sorted(names - set(known)):
            choices = ", ".join(known) or "(none)"
            problems.append(Problem(field, f"no {kind} named {name!r}; choices: {choices}"))
    return problems


def load_suite(path: str | Path, plugins: PluginSystem | None = None) -> Suite:
    """Read and check a suite file (:class:`~qorch.errors.ConfigError` naming the file and
    every problem); with ``plugins``, its orchestrations and transports must be theirs."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"cannot read the suite {path}: {exc}"]) from None
    try:
        suite = structure(data, SuiteFile)
    except Rejected as exc:
        raise ConfigError([f"{path}: {p}" for p in exc.problems]) from None
    problems = _unknown_names(suite, plugins)
    topologies = [(path.parent / t).resolve() for t in suite.topologies]
    problems += [
        Problem("topologies", f"{t} does not exist") for t in topologies if not t.is_file()
    ]
    circuits: list[CircuitEntry] = []
    for i, spec in enumerate(suite.circuits):
        entries = spec.entries(path.parent)
        if not entries:
            problems.append(Problem(f"circuits[{i}]", f"glob {spec.glob!r} matches no file"))
        circuits += entries
    missing = [c.file for c in circuits if c.file is not None and not c.file.is_file()]
    problems += [Problem("circuits", f"{file} does not exist") for file in missing]
    if problems:
        raise ConfigError([f"{path}: {p}" for p in problems])
    return Suite(
        name=suite.name if suite.name is not None else path.stem,
        path=path,
        seed=suite.seed,
        shots=suite.shots,
        repeats=suite.repeats,
        arms=suite.arms(),
        topologies=tuple(topologies),
        strategies=suite.strategies if suite.strategies is not None else (None,),
        circuits=tuple(circuits),
        scenarios=suite.scenarios,
    )
