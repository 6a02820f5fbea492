"""Registers the ``central`` transport (entry point ``central`` in group ``qorch``)."""

from __future__ import annotations

from qorch.hookspecs import Register, hookimpl


@hookimpl
def qorch_register_transports(register: Register) -> None:
    """Register ``central``: plain TCP, the centralized baseline (DESIGN §9)."""
    from qorch_central.transport import CentralTransport

    register("central", CentralTransport)
