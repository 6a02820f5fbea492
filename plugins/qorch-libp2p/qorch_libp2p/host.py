"""Building blocks shared by the transport and the benchmark: identity, host, stream adapter.

The host follows the field notes on py-libp2p 0.8.1 (``shared/notes/libp2p.md``):

* Noise is the only security protocol offered (the default also offers TLS, secio and
  ``/plaintext/2.0.0``, and a default host accepts a plaintext dialer — P2).
* Yamux is the muxer (mplex deadlocks a long-lived RPC stream).
* ``max_connections_per_peer=1`` avoids the 250 ms happy-eyeballs wait in ``connect()``
  (P1); health monitoring drops a frozen peer's connection within about 2 s.
* The ``libp2p`` logger is quieted to ERROR: it has no handler, so its warnings would
  go to stderr through ``logging.lastResort`` (P9).
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.identity_utils import load_identity, save_identity
from libp2p.network.config import ConnectionConfig
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

#: File (inside a peer's identity directory) holding its Ed25519 private key.
KEY_FILE = "libp2p-ed25519.key"


def quiet_libp2p_logging() -> None:
    """Keep libp2p's own log lines off stderr (P9): a peer that disconnects makes it log
    "Error in handle_incoming ... Broken pipe" at ERROR, and shutdown adds lifecycle
    tracebacks. qorch reports what matters itself (transport error codes, disconnects),
    so only CRITICAL passes."""
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)


def load_key_pair(directory: Path) -> KeyPair:
    """This peer's key pair, created on first use and kept in ``directory``.

    The peer id is derived from the key, so it survives restarts.
    """
    path = directory / KEY_FILE
    if path.exists():
        return load_identity(path)
    directory.mkdir(parents=True, exist_ok=True)
    key_pair = create_new_key_pair()
    save_identity(key_pair, path)
    return key_pair


def connection_config() -> ConnectionConfig:
    """One connection per peer (P1) and health pings that drop a frozen peer in ~2 s."""
    return ConnectionConfig(
        max_connections_per_peer=1,
        enable_health_monitoring=True,
        health_initial_delay=1.0,
        health_warmup_window=1.0,  # default 5 s: a new connection would go unchecked
        health_check_interval=1.0,
        ping_timeout=1.0,
        abort_connection_on_ping_failure=True,
    )


def build_host(key_pair: KeyPair) -> IHost:
    """A TCP host that speaks Noise only (never plaintext) and yamux."""
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_preference="YAMUX",
        connection_config=connection_config(),
    )


class NetStreamAdapter:
    """A libp2p stream as a :class:`qorch.wire.ByteStream` (``trio.abc.Stream``-like).

    ``NetStream.read()`` raises ``StreamEOF``/``StreamReset`` at the end instead of
    returning ``b""``; here every end (EOF, reset, a closed connection, :meth:`aclose`)
    reads as ``b""``, and write failures raise :class:`trio.BrokenResourceError`.
    """

    def __init__(self, stream: INetStream) -> None:
        self.stream = stream
        self.closed = False
        self._read_scope: trio.CancelScope | None = None

    @property
    def muxed_conn(self) -> object:
        """The muxed connection the stream runs on (to match disconnect events)."""
        return self.stream.muxed_conn

    async def send_all(self, data: bytes) -> None:
        """Write all of ``data``; :class:`trio.BrokenResourceError` if the stream broke."""
        if self.closed:
            raise trio.ClosedResourceError("stream closed")
        try:
            await self.stream.write(data)
        except Exception as exc:
            raise trio.BrokenResourceError(f"{type(exc).__name__}: {exc}") from None

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Some bytes; ``b""`` at the end of the stream however it ended."""
        if self.closed:
            return b""
        with trio.CancelScope() as scope:
            self._read_scope = scope
            try:
                return await self.stream.read(max_bytes)
            except Exception:  # StreamEOF, StreamReset, StreamError, dead connection
                return b""
            finally:
                self._read_scope = None
        return b""  # cancelled by aclose()

    async def aclose(self) -> None:
        """Close the stream (a pending :meth:`receive_some` returns ``b""``); never raises."""
        if self.closed:
            return
        self.closed = True
        if self._read_scope is not None:
            self._read_scope.cancel()
        clean = False
        with trio.move_on_after(1.0):
            try:
                await self.stream.close()
                clean = True
            except Exception:
                clean = False
        if not clean:
            await self.reset()

    async def reset(self) -> None:
        """Reset the stream; never raises."""
        self.closed = True
        try:
            await self.stream.reset()
        except Exception:
            return
