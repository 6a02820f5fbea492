"""The transport contract (DESIGN §8, §9): how nodes and the coordinator talk.

A transport plugin (kind ``transport``, selected by ``[network] transport``) opens a
:class:`Peer`: an endpoint with an identity that serves requests with a
:data:`Handler` and makes requests to other peers. Every request names a *verb*
(``announce``, ``reserve``, ``cancel``, ``execute``, ``status``, ``report``; see
:mod:`qorch.node.protocol`) and carries a JSON object; every reply is a JSON object.
What the bytes look like on the wire is the transport's business; what a caller may
rely on is this:

* ``call`` returns the handler's reply, or raises :class:`TransportError` with a code:
  ``timeout`` (no reply within the timeout), ``unreachable`` (no connection could be
  made or it broke), ``too_large`` (request or reply over the size limit),
  ``protocol`` (a malformed frame or an unknown verb on the far side).
* A handler that raises does not break the connection: the caller gets a reply
  ``{"ok": false, "error": {"code": "internal", ...}}`` and later calls still work.
* After a peer restarts (same identity, same or new address), ``call`` reaches it again
  once it is known under an address — transports reconnect on their own.
* ``on_disconnect(peer_id)`` fires when a connection to a peer is lost.

``qorch.testing.transport_contract`` holds the contract tests every installed
transport runs. A transport may also offer ``async baseline_round_trips(n) -> list[float]``:
round trips of its bare underlying request/response without qorch's channel, which
``qorch bench transport`` reports beside the channel's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from qorch.errors import QorchError

#: ``await handler(verb, body, sender_peer_id) -> reply``
Handler = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]

ERROR_CODES = ("timeout", "unreachable", "too_large", "protocol")


class TransportError(QorchError):
    """A request did not get a reply; ``code`` is one of :data:`ERROR_CODES`."""

    kind = "transport"

    def __init__(self, code: str, message: str, peer: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.peer = peer

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "transport", "code", "message", "peer"}``."""
        return {"kind": self.kind, "code": self.code, "message": str(self), "peer": self.peer}


@attrs.frozen
class PeerConfig:
    """How to open a peer.

    ``name``: a label for logs (a node's name, ``coordinator``); ``identity_dir``: where
    the peer keeps its identity so that it survives restarts; ``listen``: address to
    listen on (transport-specific syntax, e.g. a multiaddr); ``max_message_bytes``:
    size limit of one request or reply; ``verbs``: verbs this peer serves (others are
    refused with ``protocol``).
    """

    name: str
    identity_dir: Path
    listen: str
    max_message_bytes: int = 4_194_304
    verbs: tuple[str, ...] = ()
