"""Registers the ``libp2p`` transport (entry point ``libp2p`` in group ``qorch``)."""

from __future__ import annotations

from qorch.hookspecs import Register, hookimpl


@hookimpl
def qorch_register_transports(register: Register) -> None:
    """Register ``libp2p``: Noise-secured, yamux-multiplexed channels (DESIGN §8)."""
    from qorch_libp2p.transport import Libp2pTransport

    register("libp2p", Libp2pTransport)
