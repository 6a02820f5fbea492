"""Placements: which node holds each qubit, over time slices of the circuit.

A static placement has one slice. A time-sliced placement (the ``teleport`` strategy) may
put a qubit on another node from some operation on; the qubit is then teleported there,
one ebit per hop (DESIGN §7). Capacities hold in every slice.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Placement:
    """``assign[s][q]`` is the node index of qubit ``q`` from operation ``starts[s]`` on."""

    starts: tuple[int, ...]
    assign: tuple[tuple[int, ...], ...]

    @classmethod
    def static(cls, assign: list[int] | tuple[int, ...]) -> Placement:
        """One assignment for the whole circuit."""
        return cls((0,), (tuple(assign),))

    @property
    def initial(self) -> tuple[int, ...]:
        """Where every qubit starts."""
        return self.assign[0]

    def loads(self, k: int) -> list[list[int]]:
        """Per slice, how many qubits each of ``k`` nodes holds."""
        out = []
        for assign in self.assign:
            load = [0] * k
            for node in assign:
                load[node] += 1
            out.append(load)
        return out

    def fits(self, capacity: list[int]) -> bool:
        """Whether every slice respects the node capacities."""
        return all(
            load[j] <= capacity[j] for load in self.loads(len(capacity)) for j in range(len(load))
        )
