"""Registers the ``metis`` placement strategy (entry point ``metis`` in group ``qorch``)."""

from __future__ import annotations

from qorch.hookspecs import Register, hookimpl


@hookimpl
def qorch_register_placement_strategies(register: Register) -> None:
    """Register :class:`qorch_metis.strategy.Metis`."""
    from qorch_metis.strategy import Metis, MetisOptions

    register("metis", Metis, options=MetisOptions)
