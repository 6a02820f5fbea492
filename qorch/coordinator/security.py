"""The API's front door (FR-012, FR-014): request ids, API keys and roles, rate limits and
the body-size limit — one ASGI layer around the Litestar app, so every route (the job API,
the websockets, ``/metrics``, the dashboard, the OpenAPI document) gets the same checks
before any handler or body parser runs.

In order, for each HTTP request or websocket:

1. **Request id**: ``X-Request-ID`` is taken when it is a sane token (at most 128 of
   ``[A-Za-z0-9._:-]``), else a new one is made; it is bound to every log line written
   while the request is handled (:func:`qorch.logs.correlation`) and echoed in the reply.
2. **Key** (``[api] auth_required``; never for ``/health``): from ``Authorization: Bearer
   <key>``, ``X-API-Key`` or — for browsers, which cannot set headers on a websocket —
   the ``api_key`` query parameter. None → 401; a key the store does not know → 401; a
   known key without the role the route needs (:func:`needed_role`) → 403.
3. **Rate limit** (``[api] rate_limit_per_minute`` > 0; not ``/health``): a token bucket
   of ``rate_limit_burst`` per key name (or client address without auth) refilled at the
   per-minute rate; an empty bucket → 429 with ``Retry-After`` in whole seconds.
4. **Body size** (``[api] max_body_bytes``): a declared ``Content-Length`` above it → 413
   before the body reaches the app; a body that turns out larger while streaming → 413
   too, and the handler sees the client gone. Either way the rest of the body is read and
   dropped first (at most :data:`DRAIN_BYTES`, for at most :data:`DRAIN_S`): a client that
   sends its whole body before it reads — Python's ``urllib`` and ``requests`` — would
   otherwise meet a reset connection (a broken pipe) instead of the 413 (issue 18). A
   body longer than that bound is answered and the connection closed under it.

Every refusal is JSON ``{"kind", "message"}`` — ``unauthorized``, ``forbidden``,
``rate_limited``, ``too_large`` — with no internals in it.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import trio

from qorch.config import ApiSettings
from qorch.keys import allows, hash_key
from qorch.logs import correlation

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: at most this much of a refused body is read and dropped before the 413 is sent
DRAIN_BYTES = 16 * 1024 * 1024
#: ... and for at most this long
DRAIN_S = 30.0
OPEN_PATHS = ("/health",)
KEY_CACHE_S = 5.0  # a revoked key stops working within this long


def needed_role(method: str, path: str) -> str:
    """The role a request needs: ``submit`` to submit or cancel, ``read`` for anything
    else that only reads (GET, HEAD, websockets), ``admin`` for the rest."""
    if method in ("GET", "HEAD", "WEBSOCKET"):
        return "read"
    if method == "POST" and (
        path == "/api/v1/circuits/submit"
        or (path.startswith("/api/v1/jobs/") and path.endswith("/cancel"))
    ):
        return "submit"
    return "admin"


class TokenBucket:
    """``burst`` tokens, refilled at ``per_minute / 60`` a second; one per request."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float]) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.at = clock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class KeyBook:
    """Looks API keys up in the store by hash (off the event loop), remembering answers
    for :data:`KEY_CACHE_S`."""

    def __init__(self, store: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}

    async def find(self, key: str) -> Any:
        """The :class:`~qorch.model.ApiKeyRecord` of ``key``, or ``None``."""
        digest = hash_key(key)
        hit = self._cache.get(digest)
        if hit is not None and self.clock() - hit[0] < KEY_CACHE_S:
            return hit[1]
        record = await trio.to_thread.run_sync(self.store.get_api_key, digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (self.clock(), record)
        return record


class ApiGuard:
    """The ASGI layer (module docstring) around ``app``.

    ``on_request(method, status)`` is called once per finished HTTP request (metrics).
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: ApiSettings,
        keys: KeyBook,
        *,
        on_request: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app, self.settings, self.keys = app, settings, keys
        self.on_request = on_request
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 0}

        async def tagged(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        with correlation(request_id=request_id):
            refusal = await self._check(scope, headers)
            if refusal is not None:
                await _refuse(scope, tagged, *refusal)
                status["code"] = refusal[0]
            elif scope["type"] == "http":
                await self._limited_body(scope, receive, tagged, headers)
            else:
                await self.app(scope, receive, tagged)
        if scope["type"] == "http" and self.on_request is not None:
            self.on_request(scope["method"], status["code"])

    async def _check(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[int, str, str, dict[str, str]] | None:
        """``None`` to go on, else (status, kind, message, extra headers)."""
        path = scope["path"]
        if path in OPEN_PATHS:
            return None
        identity = f"addr:{(scope.get('client') or ('?',))[0]}"
        if self.settings.auth_required:
            key = _key_of(scope, headers)
            if not key:
                return (
                    401,
                    "unauthorized",
                    "an API key is required: Authorization: Bearer <key> or X-API-Key",
                    {"www-authenticate": "Bearer"},
                )
            record = await self.keys.find(key)
            if record is None:
                return 401, "unauthorized", "unknown API key", {"www-authenticate": "Bearer"}
            method = "WEBSOCKET" if scope["type"] == "websocket" else scope["method"]
            role = needed_role(method, path)
            if not allows(record.roles, role):
                return (
                    403,
                    "forbidden",
                    f"key {record.name!r} lacks the {role!r} role this needs",
                    {},
                )
            identity = f"key:{record.name}"
        if self.settings.rate_limit_per_minute > 0:
            bucket = self._buckets.get(identity)
            if bucket is None:
                if len(self._buckets) > 100_000:
                    self._buckets.clear()
                bucket = self._buckets[identity] = TokenBucket(
                    self.settings.rate_limit_per_minute, self.settings.rate_limit_burst, self.clock
                )
            wait = bucket.take()
            if wait > 0:
                return (
                    429,
                    "rate_limited",
                    f"more than {self.settings.rate_limit_per_minute} requests a minute",
                    {"retry-after": str(max(1, math.ceil(wait)))},
                )
        return None

    async def _limited_body(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await drain_body(receive, 0)
            await _refuse(scope, send, 413, "too_large", f"request body over {limit} bytes", {})
            return
        seen = {"bytes": 0, "refused": False}

        async def counted() -> Message:
            if seen["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > limit:
                    seen["refused"] = True
                    if message.get("more_body", False):
                        await drain_body(receive, seen["bytes"])
                    await _refuse(
                        scope, send, 413, "too_large", f"request body over {limit} bytes", {}
                    )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not seen["refused"]:
                await send(message)

        await self.app(scope, counted, guarded_send)


async def drain_body(receive: Receive, seen: int) -> None:
    """Read and drop the rest of a refused request body (``seen`` bytes of it already
    read) until it ends, the client leaves, or :data:`DRAIN_BYTES` / :data:`DRAIN_S` is
    reached, so that the client is reading when the 413 comes (FR-014, issue 18)."""
    with trio.move_on_after(DRAIN_S):
        while seen <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _key_of(scope: Scope, headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("api_key") or [""])[0].strip()


async def _refuse(
    scope: Scope, send: Send, status: int, kind: str, message: str, extra: dict[str, str]
) -> None:
    body = json.dumps({"kind": kind, "message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in extra.items()),
    ]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server cannot answer a handshake with a body: a close before accept
        await send({"type": "websocket.close", "code": 4000 + status})
