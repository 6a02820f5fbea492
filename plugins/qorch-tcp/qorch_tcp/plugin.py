"""Registers the ``tcp`` transport (entry point ``tcp`` in group ``qorch``)."""

from __future__ import annotations

from qorch.hookspecs import Register, hookimpl


@hookimpl
def qorch_register_transports(register: Register) -> None:
    """Register ``tcp``: plain TCP with qorch's framing (DESIGN §9). ``central``, its name
    before orchestration and transport were told apart (issue 17), still selects it."""
    from qorch_tcp.transport import TcpTransport

    register("tcp", TcpTransport, aliases=("central",))
