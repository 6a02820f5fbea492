"""Request/response over one long-lived byte stream per peer pair (DESIGN §8, FR-014).

Transports differ in how they reach a peer and prove who it is; what they send is the
same and lives here, so the ``libp2p`` and ``tcp`` transports behave alike:

* A *frame* is an unsigned-varint length followed by that many bytes of UTF-8 JSON
  (the msgio framing libp2p uses). A frame above ``max_bytes`` is never sent: the
  sender raises ``too_large`` (or, for a reply, sends a ``too_large`` error instead); a
  receiver that sees a length above its limit closes the channel.
* Request ``{"id": n, "verb": v, "body": {...}}``; reply ``{"id": n, "body": {...}}``
  or ``{"id": n, "error": {"code", "message"}}``. Ids are per channel and direction,
  so either end may call the other over one stream, many calls at once.
* A handler that raises produces the reply ``{"ok": false, "error": {"code":
  "internal", ...}}``; the channel lives on. A verb the peer does not serve produces
  the error ``protocol``.

:class:`ChannelPeer` is the shared part of a :class:`qorch.transport.Peer`: channels by
peer id, an address book for redialling, calls with timeouts and disconnect callbacks.
A transport subclasses it and supplies :meth:`ChannelPeer.open_channel_stream` (dial
and authenticate) and feeds inbound streams to :meth:`ChannelPeer.serve_stream`.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
from collections.abc import Callable
from typing import Any, Protocol

import trio
from loguru import logger

from qorch.transport import Handler, PeerConfig, TransportError

MAX_VARINT_BYTES = 10
#: requests from one peer handled at once; more wait their turn
MAX_CONCURRENT_REQUESTS = 64
#: longest a retired duplicate channel waits for its calls in flight before closing
RETIRE_TIMEOUT_S = 60.0


class ByteStream(Protocol):
    """What a channel needs of a stream (``trio.abc.Stream`` satisfies it)."""

    async def send_all(self, data: bytes) -> None:
        """Write all of ``data``."""
        ...

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Some bytes; ``b""`` at end of stream."""
        ...

    async def aclose(self) -> None:
        """Close the stream."""
        ...


def message_size(message: dict[str, Any]) -> int:
    """A message's size as compact JSON (what a frame carries, bar its length prefix),
    for counting a run's bytes (issue 17)."""
    return len(json.dumps(message, separators=(",", ":"), default=str))


def encode_frame(message: dict[str, Any]) -> bytes:
    """Varint length + compact JSON (``allow_nan=False``: NaN is not JSON)."""
    payload = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    return encode_varint(len(payload)) + payload


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128: seven bits per byte, low bits first, high bit = more follows."""
    head = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        head.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(head)


#: frames refused on receipt in this process, by reason (``too_large``, ``protocol``) —
#: the peer's message is dropped and its stream closed; ``/metrics`` exports the counts
REJECTED_FRAMES: collections.Counter[str] = collections.Counter()


def _rejected(kind: str, message: str) -> TransportError:
    REJECTED_FRAMES[kind] += 1
    return TransportError(kind, message)


class FrameReader:
    """Reads frames from a stream, enforcing the size limit before buffering a body."""

    def __init__(self, stream: ByteStream, max_bytes: int) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.buffer = bytearray()

    async def _fill(self) -> bool:
        chunk = await self.stream.receive_some(65_536)
        self.buffer += chunk
        return bool(chunk)

    async def read(self) -> dict[str, Any] | None:
        """The next message, or ``None`` at a clean end of stream.

        Raises :class:`TransportError` ``protocol`` (bad varint, bad JSON) or
        ``too_large`` (declared length above the limit).
        """
        while True:
            length, used = _varint(self.buffer)
            if used:
                break
            if len(self.buffer) >= MAX_VARINT_BYTES:
                raise _rejected("protocol", "bad frame length")
            if not await self._fill():
                if self.buffer:
                    raise TransportError("unreachable", "stream ended inside a frame")
                return None
        if length > self.max_bytes:
            raise _rejected("too_large", f"frame of {length} bytes over {self.max_bytes}")
        while len(self.buffer) < used + length:
            if not await self._fill():
                raise TransportError("unreachable", "stream ended inside a frame")
        payload = bytes(self.buffer[used : used + length])
        del self.buffer[: used + length]
        try:
            message = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, huge ints, deep nesting
            raise _rejected("protocol", f"frame is not usable JSON: {exc}"[:200]) from None
        if not isinstance(message, dict):
            raise _rejected("protocol", "frame is not a JSON object")
        return message


class Prepended:
    """A stream that first yields ``head`` (bytes a handshake read past its own frame)."""

    def __init__(self, stream: ByteStream, head: bytes) -> None:
        self.stream = stream
        self.head = head

    async def send_all(self, data: bytes) -> None:
        """Write to the wrapped stream."""
        await self.stream.send_all(data)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The leftover bytes first, then the wrapped stream's."""
        if self.head:
            head, self.head = self.head, b""
            return head
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        await self.stream.aclose()


def _varint(buf: bytearray) -> tuple[int, int]:
    value = 0
    for i, byte in enumerate(buf[:MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    return 0, 0


class Channel:
    """One stream to one peer, carrying calls both ways (see the module docstring)."""

    def __init__(
        self,
        stream: ByteStream,
        remote: str,
        initiator: str,
        handler: Handler,
        verbs: tuple[str, ...],
        max_bytes: int,
    ) -> None:
        self.stream = stream
        self.remote = remote
        self.initiator = initiator  # peer id of the side that dialled
        self.handler = handler
        self.verbs = verbs
        self.max_bytes = max_bytes
        self.reader = FrameReader(stream, max_bytes)
        self.send_lock = trio.Lock()
        self.ids = itertools.count(1)
        self.pending: dict[int, tuple[trio.Event, list[dict[str, Any]]]] = {}
        self.closed = trio.Event()
        self.answering = 0  # requests from the far side being handled now
        self.idle = trio.Event()  # set whenever nothing is pending or being answered
        self.idle.set()
        self.limiter = trio.CapacityLimiter(MAX_CONCURRENT_REQUESTS)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one frame (``too_large`` if over the limit, ``protocol`` if not JSON)."""
        try:
            frame = encode_frame(message)
        except (TypeError, ValueError) as exc:
            raise TransportError("protocol", f"message is not JSON: {exc}", self.remote) from None
        if len(frame) > self.max_bytes:
            raise TransportError(
                "too_large", f"message of {len(frame)} bytes over {self.max_bytes}", self.remote
            )
        async with self.send_lock:
            if self.closed.is_set():
                raise TransportError("unreachable", "channel closed", self.remote)
            sent = False
            try:
                await self.stream.send_all(frame)
                sent = True
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise TransportError("unreachable", f"send failed: {exc}", self.remote) from None
            finally:
                if not sent:  # cancelled or failed part-way: the framing is lost for good
                    self.closed.set()
                    with trio.CancelScope(shield=True):
                        await self._close_quietly()

    async def call(self, verb: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One request; its reply body, or :class:`TransportError`."""
        if self.closed.is_set():
            raise TransportError("unreachable", "channel closed", self.remote)
        rid = next(self.ids)
        done = trio.Event()
        box: list[dict[str, Any]] = []
        self.pending[rid] = (done, box)
        self.idle = trio.Event()
        try:
            with trio.move_on_after(timeout) as scope:
                await self.send({"id": rid, "verb": verb, "body": body})
                await done.wait()
        finally:
            self.pending.pop(rid, None)
            self._check_idle()
        if not box:
            if self.closed.is_set() and not scope.cancelled_caught:
                raise TransportError("unreachable", "connection lost", self.remote)
            raise TransportError("timeout", f"{verb}: no reply in {timeout:g} s", self.remote)
        reply = box[0]
        if "error" in reply:
            err = reply["error"] if isinstance(reply["error"], dict) else {}
            raise TransportError(
                str(err.get("code", "protocol")), str(err.get("message", "")), self.remote
            )
        answer = reply.get("body")
        return answer if isinstance(answer, dict) else {}

    async def run(self, nursery: trio.Nursery) -> None:
        """Read frames until the stream ends; answer requests in ``nursery``."""
        try:
            while True:
                message = await self.reader.read()
                if message is None:
                    break
                rid = message.get("id")
                if not isinstance(rid, int):
                    raise TransportError("protocol", "frame without an integer id")
                if "verb" in message:
                    self.answering += 1
                    self.idle = trio.Event()
                    nursery.start_soon(self._answer, rid, message)
                elif rid in self.pending:
                    done, box = self.pending[rid]
                    box.append(message)
                    done.set()
        except TransportError as exc:
            logger.warning("channel to {} closed: {} ({})", self.remote, exc, exc.code)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            logger.debug("channel to {} broke: {}", self.remote, exc)
        except Exception as exc:  # a backstop: no input may take the peer down
            logger.opt(exception=exc).warning("channel to {} failed; closing it", self.remote)
        finally:
            self.closed.set()
            self.idle.set()
            for done, _box in self.pending.values():
                done.set()
            with trio.CancelScope(shield=True):
                await self._close_quietly()

    async def _close_quietly(self) -> None:
        try:
            await self.stream.aclose()
        except Exception as exc:
            logger.debug("closing the stream to {} failed: {}", self.remote, exc)

    def _check_idle(self) -> None:
        if not self.pending and not self.answering:
            self.idle.set()

    async def _answer(self, rid: int, message: dict[str, Any]) -> None:
        try:
            verb, body = message.get("verb"), message.get("body")
            if verb not in self.verbs or not isinstance(body, dict):
                error = _error("protocol", f"unknown verb {str(verb)[:64]!r}")
                await self._reply({"id": rid, "error": error})
                return
            async with self.limiter:
                try:
                    reply = await self.handler(verb, body, self.remote)
                except Exception as exc:
                    logger.exception("handler of {} failed", verb)
                    error = _error("internal", f"{type(exc).__name__}: {exc}")
                    reply = {"ok": False, "error": error}
            await self._reply({"id": rid, "body": reply})
        finally:
            self.answering -= 1
            self._check_idle()

    async def _reply(self, message: dict[str, Any]) -> None:
        try:
            if len(encode_frame(message)) > self.max_bytes:
                message = {"id": message["id"], "error": _error("too_large", "reply over limit")}
            await self.send(message)
        except (TransportError, ValueError) as exc:
            logger.debug("reply to {} not sent: {}", self.remote, exc)


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


class ChannelPeer:
    """The shared half of a :class:`~qorch.transport.Peer` (see the module docstring)."""

    def __init__(
        self,
        config: PeerConfig,
        handler: Handler,
        on_disconnect: Callable[[str], None] | None,
        nursery: trio.Nursery,
        peer_id: str,
    ) -> None:
        self._peer_id = peer_id
        self.config = config
        self.handler = handler
        self.on_disconnect = on_disconnect
        self.nursery = nursery
        self.channels: dict[str, Channel] = {}
        self.book: dict[str, str] = {}  # peer id -> last address it was dialled at
        self._dialling: dict[str, trio.Lock] = {}

    @property
    def peer_id(self) -> str:
        """This peer's stable identity."""
        return self._peer_id

    async def open_channel_stream(self, address: str) -> tuple[ByteStream, str]:
        """Dial ``address`` and return an authenticated stream and the remote peer id."""
        raise NotImplementedError

    def connected(self) -> set[str]:
        """Peer ids with a live channel."""
        return {pid for pid, ch in self.channels.items() if not ch.closed.is_set()}

    def learn(self, peer_id: str, address: str) -> None:
        """Remember ``address`` for ``peer_id`` unless it was dialled at another one."""
        self.book.setdefault(peer_id, address)

    async def dial(self, address: str) -> str:
        """Open (or reuse) the channel to ``address``; return the peer id there."""
        claimed = address.rsplit("/p2p/", 1)[1] if "/p2p/" in address else None
        if claimed and claimed in self.connected():
            self.book[claimed] = address
            return claimed
        lock = self._dialling.setdefault(claimed or address, trio.Lock())
        async with lock:
            if claimed and claimed in self.connected():
                return claimed
            stream, remote = await self.open_channel_stream(address)
            if claimed and remote != claimed:
                await stream.aclose()
                raise TransportError(
                    "unreachable", f"{address} is peer {remote}, not {claimed}", claimed
                )
            self.book[remote] = address
            self.adopt(stream, remote, initiator=self.peer_id)
            return remote

    def adopt(self, stream: ByteStream, remote: str, initiator: str) -> Channel:
        """Run a channel over ``stream`` (dialled by ``initiator``) to peer ``remote``; return it.

        If a live channel to ``remote`` exists already (both sides dialled at once, or a
        reconnect), both ends keep the same one — the channel dialled by the smaller peer
        id — and retire the other: it takes no new calls and closes once its calls in
        flight, both ways, are answered.
        """
        channel = Channel(
            stream,
            remote,
            initiator,
            self.handler,
            self.config.verbs,
            self.config.max_message_bytes,
        )
        self.nursery.start_soon(self._run_channel, channel)
        old = self.channels.get(remote)
        if old is None or old.closed.is_set():
            self.channels[remote] = channel
            return channel
        preferred = min(self.peer_id, remote)
        if channel.initiator == preferred and old.initiator != preferred:
            self.channels[remote] = channel
            self.nursery.start_soon(self._retire, old)
        elif channel.initiator != preferred and old.initiator == preferred:
            self.nursery.start_soon(self._retire, channel)
        else:  # same initiator: a reconnect replaced a stale stream
            self.channels[remote] = channel
            self.nursery.start_soon(self._retire, old)
        return channel

    async def _retire(self, channel: Channel) -> None:
        with trio.move_on_after(RETIRE_TIMEOUT_S):
            while not channel.idle.is_set():
                await channel.idle.wait()
        await channel._close_quietly()

    async def serve_stream(self, stream: ByteStream, remote: str) -> None:
        """Serve an inbound stream from ``remote`` (who dialled it) until it ends."""
        channel = self.adopt(stream, remote, initiator=remote)
        await channel.closed.wait()

    async def _run_channel(self, channel: Channel) -> None:
        await channel.run(self.nursery)
        if self.channels.get(channel.remote) is channel:
            del self.channels[channel.remote]
            if self.on_disconnect is not None:
                self.on_disconnect(channel.remote)

    async def call(
        self, peer_id: str, verb: str, body: dict[str, Any], *, timeout: float
    ) -> dict[str, Any]:
        """One request to ``peer_id``, redialling its last known address if needed."""
        deadline = trio.current_time() + timeout
        channel = self.channels.get(peer_id)
        if channel is None or channel.closed.is_set():
            address = self.book.get(peer_id)
            if address is None:
                raise TransportError("unreachable", "no connection and no address", peer_id)
            with trio.move_on_after(timeout) as scope:
                remote = await self.dial(address)
            if scope.cancelled_caught:
                raise TransportError("timeout", f"dialling {address} timed out", peer_id)
            channel = self.channels.get(peer_id)
            if remote != peer_id or channel is None:
                raise TransportError(
                    "unreachable", f"{address} is now peer {remote}, not {peer_id}", peer_id
                )
        left = max(deadline - trio.current_time(), 0.0)
        return await channel.call(verb, body, left if math.isfinite(left) else timeout)

    async def close(self) -> None:
        """Close every channel."""
        for channel in list(self.channels.values()):
            await channel._close_quietly()
