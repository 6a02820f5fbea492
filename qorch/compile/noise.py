"""The noise of the executed circuit (DESIGN §6): channels and where protocols put them.

Gate errors are depolarizing channels of the gate's average fidelity; readout errors are
bit flips; an ebit of fidelity ``F`` (its link path's, a Werner pair) is a Pauli ``X``,
``Y`` or ``Z`` with probability ``(1 - F)/3`` each on its remote half
(``../shared/notes/protocols.md``); an idle qubit relaxes thermally (T1, T2).

The world simulator runs each remote protocol in an equivalent cheaper form
(:mod:`qorch.compile.physics`): measurements deferred, the home half of a cat-entangler
folded into a ``cx`` onto the remote half, a teleport as a relabelling. Every noise
channel of the explicit protocol is then carried to where it acts in that form, exactly,
because all of them are Pauli channels and the protocols are Clifford circuits: this
module composes them (:class:`PauliChannel`) and says where each goes
(:func:`entangle_channel`, :func:`disentangle_channel`, :func:`teleport_channel`).
``tests/test_world_forms.py`` shows each form gives the same density matrix as the
explicit protocol. The factories cache their channels (:func:`clear_caches`).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import attrs
from qiskit_aer.noise import pauli_error, thermal_relaxation_error

from qorch.topology import Topology

#: the one-qubit Paulis as (x, z) bits
PAULI_BITS = {"I": (0, 0), "X": (1, 0), "Y": (1, 1), "Z": (0, 1)}
BITS_PAULI = {v: k for k, v in PAULI_BITS.items()}


@attrs.frozen
class PauliChannel:
    """A Pauli channel on ``k`` qubits: ``probs[label]``, a label's first letter acting on
    the first qubit (note: qiskit's labels read the other way round). Treat it as
    immutable: the factories below cache theirs."""

    probs: dict[str, float]

    @property
    def num_qubits(self) -> int:
        """Qubits it acts on."""
        return len(next(iter(self.probs)))

    @staticmethod
    def identity(k: int) -> PauliChannel:
        """The channel that does nothing."""
        return PauliChannel({"I" * k: 1.0})

    def then(self, other: PauliChannel) -> PauliChannel:
        """This channel followed by ``other`` (Paulis multiply; phases do not matter)."""
        out: dict[str, float] = {}
        for (a, pa), (b, pb) in itertools.product(self.probs.items(), other.probs.items()):
            label = "".join(_product(x, y) for x, y in zip(a, b, strict=True))
            out[label] = out.get(label, 0.0) + pa * pb
        return PauliChannel(out)

    def error_probability(self) -> float:
        """The probability of anything but the identity."""
        return 1.0 - self.probs.get("I" * self.num_qubits, 0.0)

    def visible_error(self, z_visible: tuple[bool, ...]) -> float:
        """The probability of an error that can change the outcome: any X or Y, and a Z
        only on a qubit where ``z_visible`` says a later operation could reveal it."""
        total = 0.0
        for label, p in self.probs.items():
            if any(c in "XY" or (c == "Z" and z_visible[i]) for i, c in enumerate(label)):
                total += p
        return total

    def twirl(self) -> PauliChannel:
        """A Pauli channel is its own twirl."""
        return self

    def to_aer(self) -> Any | None:
        """The qiskit-aer error (``None`` for the identity)."""
        if self.error_probability() <= 1e-15:
            return None

        terms = [(label[::-1], p) for label, p in sorted(self.probs.items()) if p > 0]
        total = sum(p for _, p in terms)
        return pauli_error([(label, p / total) for label, p in terms])


def _product(a: str, b: str) -> str:
    xa, za = PAULI_BITS[a]
    xb, zb = PAULI_BITS[b]
    return BITS_PAULI[(xa ^ xb, za ^ zb)]


@functools.lru_cache(maxsize=4096)
def depolarizing(fidelity: float, k: int) -> PauliChannel:
    """The depolarizing channel of average gate fidelity ``fidelity`` on ``k`` qubits:
    ``ρ → (1 - λ)ρ + λ I/d`` with ``λ = (1 - f) d/(d - 1)``, ``d = 2^k``."""
    d = 2**k
    lam = min(max(0.0, (1.0 - fidelity) * d / (d - 1)), d * d / (d * d - 1))
    labels = ["".join(p) for p in itertools.product("IXYZ", repeat=k)]
    probs = {label: lam / (d * d) for label in labels}
    probs["I" * k] = 1.0 - lam + lam / (d * d)
    return PauliChannel(probs)


def half(channel: PauliChannel) -> PauliChannel:
    """``channel`` applied with probability 1/2 (a correction that runs on one outcome of
    a uniformly random measurement)."""
    k = channel.num_qubits
    probs = {label: p / 2 for label, p in channel.probs.items()}
    probs["I" * k] = probs.get("I" * k, 0.0) + 0.5
    return PauliChannel(probs)


def flip(probability: float, pauli: str = "X") -> PauliChannel:
    """``pauli`` with ``probability``."""
    p = min(max(probability, 0.0), 1.0)
    return PauliChannel({"I": 1.0 - p, pauli: p}) if p > 0 else PauliChannel.identity(1)


def werner(fidelity: float) -> PauliChannel:
    """An ebit of fidelity ``F`` as a Pauli on one half: X, Y, Z each ``(1 - F)/3``."""
    e = max(0.0, 1.0 - fidelity) / 3
    return PauliChannel({"I": 1.0 - 3 * e, "X": e, "Y": e, "Z": e})


def on(channel: PauliChannel, positions: tuple[int, ...], k: int) -> PauliChannel:
    """``channel`` acting on ``positions`` of ``k`` qubits."""
    out: dict[str, float] = {}
    for label, p in channel.probs.items():
        full = ["I"] * k
        for pos, letter in zip(positions, label, strict=True):
            full[pos] = letter
        key = "".join(full)
        out[key] = out.get(key, 0.0) + p
    return PauliChannel(out)


def remap(channel: PauliChannel, rule: Any) -> PauliChannel:
    """Each label ``l`` of ``channel`` becomes ``rule(l)`` (a Clifford's propagation)."""
    out: dict[str, float] = {}
    for label, p in channel.probs.items():
        key = rule(label)
        out[key] = out.get(key, 0.0) + p
    return PauliChannel(out)


@attrs.frozen
class ProtocolNoise:
    """The fidelities a protocol's operations run at (1 where noiseless)."""

    link: float = 1.0  # the ebit's: its path's
    home_cx: float = 1.0
    home_h: float = 1.0
    home_measure: float = 1.0
    remote_measure: float = 1.0
    home_z: float = 1.0
    remote_h: float = 1.0
    remote_x: float = 1.0
    remote_z: float = 1.0


@functools.lru_cache(maxsize=1024)
def entangle_channel(noise: ProtocolNoise) -> PauliChannel:
    """On ``(q, b)`` after ``cx q, b``: the cat-entangler's errors (a folded away).

    ``cx q, a``'s error: its part on ``q`` stays; an X or Y on ``a`` flips the bit
    measured and so the correction on ``b`` (an X on ``b``), a Z on ``a`` does nothing.
    The readout of ``a``: an X on ``b``. The correction ``x b`` runs on half the shots.
    """

    def fold(label: str) -> str:
        q, a = label[0], label[1]
        return q + ("X" if a in "XY" else "I")

    cx = remap(depolarizing(noise.home_cx, 2), fold)
    b_only = (
        werner(noise.link)
        .then(flip(1.0 - noise.home_measure))
        .then(half(depolarizing(noise.remote_x, 1)))
    )
    return cx.then(on(b_only, (1,), 2))


@functools.lru_cache(maxsize=1024)
def disentangle_channel(noise: ProtocolNoise) -> PauliChannel:
    """On ``q`` after the deferred disentangler ``h b; cz b, q``: its errors.

    ``h b``'s X or Y error (before the measurement in the Z basis) flips the bit, as a
    readout error does: the correction ``z q`` goes wrong, a Z on ``q``; its Z does
    nothing. The correction runs on half the shots.
    """
    h_error = remap(depolarizing(noise.remote_h, 1), lambda p: "Z" if p in "XY" else "I")
    return h_error.then(flip(1.0 - noise.remote_measure, "Z")).then(
        half(depolarizing(noise.home_z, 1))
    )


@functools.lru_cache(maxsize=1024)
def teleport_channel(noise: ProtocolNoise) -> PauliChannel:
    """On the teleported qubit: the teleport's errors, carried through its Clifford.

    After ``cx q, a``: a Z or Y on ``q`` becomes (through ``h q``) a flip of the first
    bit, so a Z on the output; an X or Y on ``a`` flips the second, an X on the output.
    ``h q``'s X or Y: a Z on the output. Readouts: Z (first bit), X (second). The ebit's
    Pauli lands on the output as it is; each correction runs on half the shots.
    """

    def through(label: str) -> str:
        q, a = label[0], label[1]
        return BITS_PAULI[(1 if a in "XY" else 0, 1 if q in "ZY" else 0)]

    out = remap(depolarizing(noise.home_cx, 2), through)
    h_error = remap(depolarizing(noise.home_h, 1), lambda p: "Z" if p in "XY" else "I")
    return (
        out.then(h_error)
        .then(flip(1.0 - noise.home_measure, "Z"))
        .then(flip(1.0 - noise.home_measure, "X"))
        .then(werner(noise.link))
        .then(half(depolarizing(noise.remote_x, 1)))
        .then(half(depolarizing(noise.remote_z, 1)))
    )


@attrs.frozen
class Thermal:
    """Thermal relaxation (T1, T2 in µs) over ``idle_us`` of waiting."""

    t1_us: float
    t2_us: float
    idle_us: float

    def twirl(self) -> PauliChannel:
        """Its Pauli twirl: X, Y each ``(1 - e^(-t/T1))/4``, Z ``(1 - e^(-t/T2))/2`` less
        that."""

        xy = (1 - math.exp(-self.idle_us / self.t1_us)) / 4
        z = max(0.0, (1 - math.exp(-self.idle_us / self.t2_us)) / 2 - xy)
        return PauliChannel({"I": 1 - 2 * xy - z, "X": xy, "Y": xy, "Z": z})

    def error_probability(self) -> float:
        """The weight of its Pauli twirl's errors."""
        return self.twirl().error_probability()

    def to_aer(self) -> Any | None:
        """The qiskit-aer error (``None`` for no time)."""
        return _thermal(self.t1_us, self.t2_us, float(f"{self.idle_us:.4g}"))


@functools.lru_cache(maxsize=4096)
def _thermal(t1_us: float, t2_us: float, idle_us: float) -> Any | None:
    if idle_us <= 0:
        return None

    return thermal_relaxation_error(t1_us, min(t2_us, 2 * t1_us), idle_us)


def path_fidelity(topology: Topology, path: tuple[str, ...]) -> float:
    """The product of the fidelities of the links along ``path``."""
    fid = 1.0
    for a, b in itertools.pairwise(path):
        link = topology.link(a, b)
        if link is None:
            raise ValueError(f"the plan uses a link {a}-{b} the topology does not have")
        fid *= link.fidelity
    return fid


def clear_caches() -> None:
    """Forget every cached channel (for tests that swap a factory)."""
    for cached in (depolarizing, entangle_channel, disentangle_channel, teleport_channel):
        getattr(cached, "cache_clear", lambda: None)()  # a test may have swapped one
