"""A node's part of a plan, run among its peers (issue 17, DESIGN §9: ``distributed``).

Under the ``distributed`` orchestration the coordinator reserves as always, then hands
every node its *part* of the plan (``handout``: its fragments, the predecessors each
waits for and who runs them, the nodes each completion notice goes to, the peers'
addresses, the attempts and retry delays) and leaves the execution to the nodes:

* a fragment starts when every predecessor is done: one this node took part in is known
  here; any other is known by its **completion notice** (``notice``), sent directly by
  the first node of that predecessor;
* a remote interaction (``entangle``, ``disentangle``, ``teleport``) is run by its two
  end nodes: the first (the *initiator*) asks the other to agree on the ebit of an
  attempt (``ebit``, answered once that end's own predecessors are done), both run
  their share, then the initiator sends its classical bits (``bits``, with its record)
  and the other end answers with its own record. An attempt either end answered as
  failed is tried again under the next attempt number; a lost answer under the same one
  (execution is idempotent per ``(run, fragment, attempt)``, FR-010);
* a node that waits longer than ``peer_wait_s`` for a notice asks the predecessor's node
  (``progress``): a notice that was lost is then made good; a node that does not
  answer, or no longer knows the run, is **escalated**: the part becomes ``stuck``;
* the coordinator ``collect``\\ s each part once: the call is answered when the part is
  ``done`` (every fragment of it completed), ``failed`` (a fragment failed on every
  attempt) or ``stuck``, with this node's records, its peer traffic and the
  control-plane hops of its longest chain. The coordinator keeps the authority over
  what follows (retries exhausted: its fallback policy re-plans).

A part outlives the coordinator that handed it out: the nodes finish it while the
coordinator is down, and a restarted coordinator that hands the same part out again
gets the one that exists (never a second run) and collects its records. Cancelling the
run's reservation aborts the part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio
from loguru import logger

from qorch.interfaces import Peer
from qorch.node import protocol
from qorch.node.protocol import ContactBody, HandoutBody, PartFragmentBody, PeerMessageBody
from qorch.node.reservations import Correlation
from qorch.transport import TransportError
from qorch.wire import message_size

#: how long a peer's message waits for the hand-out of its run to arrive here
HANDOUT_WAIT_S = 10.0
#: parts kept (finished ones are forgotten first)
MAX_PARTS = 1_000
#: the longest pause between two progress questions about one predecessor
MAX_PROGRESS_WAIT_S = 30.0
NOTICE_TIMEOUT_S = 5.0


class PeerCaller(Protocol):
    """How a node calls another node of the run by name."""

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """One request; raises :class:`~qorch.transport.TransportError`."""
        ...

    def learn(self, contacts: dict[str, ContactBody]) -> None:
        """How to reach the peers a hand-out names."""
        ...


class PeerDirectory:
    """A :class:`PeerCaller` over the node's transport peer: node names to peer ids as
    the hand-outs tell, their addresses given to the peer for dialling."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.ids: dict[str, str] = {}

    def learn(self, contacts: dict[str, ContactBody]) -> None:
        """Remember each peer's id and first address."""
        for name, contact in contacts.items():
            self.ids[name] = contact.peer_id
            for address in contact.addresses[:1]:
                self.peer.learn(contact.peer_id, address)

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """One request to ``node`` through the peer (dialling it when not connected)."""
        peer_id = self.ids.get(node)
        if peer_id is None:
            raise TransportError("unreachable", f"no hand-out said how to reach {node}", node)
        return await self.peer.call(peer_id, verb, body, timeout=timeout)


class Executor(Protocol):
    """What runs a fragment's operations here (the node's idempotent executor)."""

    async def execute(self, req: dict[str, Any]) -> dict[str, Any]:
        """An ``execute`` reply for the validated request ``req``."""
        ...


@attrs.define
class Part:
    """One node's part of one run, and what happened to it so far."""

    body: HandoutBody
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: dict[str, trio.Event] = attrs.field(factory=dict)  # fragments here and their deps
    hops: dict[str, int] = attrs.field(factory=dict)  # hops on the chain a fragment ends
    ready: dict[str, trio.Event] = attrs.field(factory=dict)  # far end: predecessors done
    running: dict[tuple[str, int], trio.Event] = attrs.field(factory=dict)
    replies: dict[tuple[str, int], dict[str, Any]] = attrs.field(factory=dict)
    records: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # this node's, by fragment
    attempts: dict[str, int] = attrs.field(factory=dict)
    errors: dict[str, list[str]] = attrs.field(factory=dict)
    state: str = "running"  # running | done | failed | stuck | cancelled
    problem: dict[str, Any] | None = None
    finished: trio.Event = attrs.field(factory=trio.Event)
    peer_messages: int = 0
    peer_bytes: int = 0

    @property
    def run_id(self) -> str:
        """The run (job id, or ``<job id>.k`` after ``k`` fallbacks)."""
        return self.body.correlation.job_id

    def fragment(self, fid: str) -> PartFragmentBody:
        """The fragment ``fid`` of this part."""
        return next(f for f in self.body.fragments if f.id == fid)

    def finish(self, state: str, problem: dict[str, Any] | None = None) -> None:
        """End the part as ``state`` (the first ending counts)."""
        if self.state != "running":
            return
        self.state, self.problem = state, problem
        self.finished.set()


class Choreography:
    """The choreography verbs of one node (see the module docstring).

    ``executor`` runs fragments (the node's :class:`~qorch.node.service.NodeService`),
    ``peers`` calls other nodes by name; :meth:`run` must be running (it owns the
    parts' tasks)."""

    def __init__(
        self, name: str, executor: Executor, peers: PeerCaller,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.name = name
        self.executor = executor
        self.peers = peers
        self.clock = clock
        self.parts: dict[str, Part] = {}
        self._arrived: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Own the parts' tasks until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- the verbs ---------------------------------------------------------------------------

    async def serve(self, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one choreography request (raises ``BadRequest`` for a bad body)."""
        if verb == "handout":
            return self.handout(protocol.handout_request(body))
        msg = protocol.peer_message(body)
        part = await self._part(msg.run_id)
        if part is None:
            return protocol.error("unknown_run", f"no part of run {msg.run_id!r} here")
        if verb == "collect":
            return await self._collect(part)
        if msg.fragment_id not in part.done:
            return protocol.error("not_found", f"fragment {msg.fragment_id!r} is not known here")
        if verb == "notice":
            self._mark_done(part, msg.fragment_id, msg.hops)
            return {"ok": True}
        if verb == "progress":
            return self._progress(part, msg.fragment_id)
        if verb == "ebit":
            return await self._agree(part, msg)
        return await self._bits(part, msg)

    def handout(self, body: HandoutBody) -> dict[str, Any]:
        """Take this node's part of a run and start it; the same run again is the part
        already here (a restarted coordinator): it is neither replaced nor run twice."""
        run_id = body.correlation.job_id
        if run_id in self.parts:
            return {"ok": True, "existing": True, "state": self.parts[run_id].state}
        if body.node != self.name:
            return protocol.error("invalid", f"this node is {self.name!r}, not {body.node!r}")
        if self._nursery is None:
            return protocol.error("internal", "the choreography is not running")
        self._forget_finished()
        self.peers.learn(body.peers)
        part = Part(body)
        for f in body.fragments:
            part.done.setdefault(f.id, trio.Event())
            part.ready[f.id] = trio.Event()
            for dep in f.depends_on:
                part.done.setdefault(dep.id, trio.Event())
        self.parts[run_id] = part
        self._arrived.setdefault(run_id, trio.Event()).set()
        self._nursery.start_soon(self._run_part, part)
        return {"ok": True, "existing": False, "state": part.state}

    def abort(self, reservation_id: str) -> None:
        """The run holding ``reservation_id`` was cancelled: stop its part."""
        for part in self.parts.values():
            if part.body.reservation_id == reservation_id:
                part.finish("cancelled")
                part.scope.cancel()

    async def _part(self, run_id: str) -> Part | None:
        """The part of ``run_id``, waiting a little for a hand-out still on its way."""
        if run_id not in self.parts:
            arrived = self._arrived.setdefault(run_id, trio.Event())
            with trio.move_on_after(HANDOUT_WAIT_S):
                await arrived.wait()
            if run_id not in self.parts:
                self._arrived.pop(run_id, None)
        return self.parts.get(run_id)

    def _forget_finished(self) -> None:
        while len(self.parts) >= MAX_PARTS:
            finished = [r for r, p in self.parts.items() if p.state != "running"]
            victim = finished[0] if finished else next(iter(self.parts))
            self.parts.pop(victim).scope.cancel()
            self._arrived.pop(victim, None)

    async def _collect(self, part: Part) -> dict[str, Any]:
        await part.finished.wait()
        fragments = {
            fid: {
                "attempts": part.attempts.get(fid, 0),
                "record": part.records.get(fid),
                "errors": part.errors.get(fid, []),
            }
            for fid in (f.id for f in part.body.fragments)
        }
        mine = [part.hops.get(f.id, 0) for f in part.body.fragments]
        return {
            "ok": True,
            "node": self.name,
            "state": part.state,
            "problem": part.problem,
            "fragments": fragments,
            "peer_messages": part.peer_messages,
            "peer_bytes": part.peer_bytes,
            "hops": max(mine, default=0) + 1,  # the collect reply is a hop of its own
        }

    def _progress(self, part: Part, fid: str) -> dict[str, Any]:
        if part.done[fid].is_set() and fid in part.records:
            return {"ok": True, "state": "done", "hops": part.hops.get(fid, 0)}
        return {"ok": True, "state": part.state if part.state != "done" else "running"}

    # -- running a part --------------------------------------------------------------------------

    async def _run_part(self, part: Part) -> None:
        with part.scope:
            part.scope.deadline = trio.current_time() + max(part.body.deadline - self.clock(), 0)
            async with trio.open_nursery() as nursery:
                for f in part.body.fragments:
                    nursery.start_soon(self._fragment, part, f)
            part.finish("done")
            return
        if part.state == "running":
            part.finish("failed", {"error": "the run's deadline passed", "failed": []})

    async def _fragment(self, part: Part, f: PartFragmentBody) -> None:
        start_hop = await self._predecessors(part, f)
        if start_hop is None:
            return  # escalated: the coordinator decides
        if f.kind != "local" and f.nodes[0] != self.name:
            part.hops[f.id] = start_hop
            part.ready[f.id].set()  # the initiator's ebit request may go ahead
            await self._wait_for(part, f.id, f.nodes[0])
            return
        if f.kind == "local":
            ok = await self._local(part, f, start_hop)
        else:
            ok = await self._initiate(part, f, start_hop)
        if ok:
            await self._notify(part, f)

    async def _predecessors(self, part: Part, f: PartFragmentBody) -> int | None:
        """Wait until every predecessor of ``f`` is done; the hops of the longest chain
        that ends here (``None`` when a wait was escalated)."""
        hop = 1  # the hand-out
        for dep in f.depends_on:
            ok = await self._wait_for(part, dep.id, dep.nodes[0])
            if not ok:
                return None
            hop = max(hop, part.hops.get(dep.id, 0))
        return hop

    async def _wait_for(self, part: Part, fid: str, owner: str) -> bool:
        """Wait for fragment ``fid`` (run by ``owner`` first); ask ``owner`` after
        ``peer_wait_s`` and then at doubling intervals; escalate when it cannot answer."""
        wait = part.body.peer_wait_s
        while True:
            with trio.move_on_after(wait):
                await part.done[fid].wait()
                return True
            if owner == self.name:
                continue  # this node's own task will get there
            try:
                reply = await self._call(part, owner, "progress", {"fragment_id": fid}, wait)
            except TransportError as exc:
                self._escalate(part, fid, owner, f"{owner} does not answer: {exc}")
                return False
            if not reply.get("ok"):
                error = reply.get("error", {})
                self._escalate(
                    part, fid, owner, f"{owner}: {error.get('code')}: {error.get('message')}"
                )
                return False
            if reply.get("state") == "done":
                self._mark_done(part, fid, int(reply.get("hops", 0)) + 1)
                return True
            wait = min(wait * 2, MAX_PROGRESS_WAIT_S)

    def _escalate(self, part: Part, fid: str, owner: str, why: str) -> None:
        waited = part.body.peer_wait_s
        logger.info("{}: run {} stuck on {}: {}", self.name, part.run_id, fid, why)
        part.finish(
            "stuck",
            {
                "fragment_id": fid,
                "nodes": [owner],
                "failed": [owner],
                "error": f"waited over {waited:g} s for {fid} from {why}",
            },
        )

    def _mark_done(self, part: Part, fid: str, hops: int) -> None:
        part.hops[fid] = max(part.hops.get(fid, 0), hops)
        part.done[fid].set()

    async def _execute(
        self, part: Part, f: PartFragmentBody, attempt: int, ops: bool
    ) -> dict[str, Any]:
        """This node's share of attempt ``attempt`` of ``f``: its execution record, or a
        record with ``status`` ``failed`` saying why it could not run."""
        req = {
            "correlation": Correlation(
                part.run_id, f.id, attempt, f"{part.run_id}-{f.id}-{attempt}"
            ),
            "reservation_id": part.body.reservation_id,
            "ops": [attrs.asdict(op) for op in f.ops] if ops else [],
        }
        reply = await self.executor.execute(req)
        if reply.get("ok"):
            return dict(reply["record"])
        error = reply.get("error", {})
        return {
            "node": self.name,
            "status": "failed",
            "error": f"{error.get('code')}: {error.get('message')}",
        }

    async def _local(self, part: Part, f: PartFragmentBody, start_hop: int) -> bool:
        """Run local fragment ``f``; an attempt that failed is tried again as the next."""
        delays = iter(part.body.delays_s)
        for tried in range(1, part.body.attempts + 1):
            record = await self._execute(part, f, tried - 1, ops=True)
            part.attempts[f.id] = tried
            if record.get("status") == "ok":
                part.records[f.id] = record
                self._mark_done(part, f.id, start_hop)
                return True
            part.errors.setdefault(f.id, []).append(f"{self.name}: {record.get('error')}")
            if tried < part.body.attempts:
                await trio.sleep(next(delays, 0.0))
        self._fail(part, f, (self.name,))
        return False

    def _fail(self, part: Part, f: PartFragmentBody, failed: tuple[str, ...]) -> None:
        errors = part.errors.get(f.id, [])
        part.finish(
            "failed",
            {
                "fragment_id": f.id,
                "nodes": list(f.nodes),
                "failed": list(failed),
                "attempts": part.attempts.get(f.id, 0),
                "error": errors[-1] if errors else "failed",
            },
        )

    async def _initiate(self, part: Part, f: PartFragmentBody, start_hop: int) -> bool:
        """Run remote interaction ``f`` as its first node (see the module docstring)."""
        other = f.nodes[1]
        attempt = 0
        delays = iter(part.body.delays_s)
        failed: tuple[str, ...] = (other,)
        for tried in range(1, part.body.attempts + 1):
            part.attempts[f.id] = tried
            outcome = await self._remote_attempt(part, f, attempt, start_hop)
            if isinstance(outcome, int):
                self._mark_done(part, f.id, outcome)
                return True
            message, failed, answered = outcome
            part.errors.setdefault(f.id, []).append(message)
            attempt += 1 if answered else 0
            if tried < part.body.attempts:
                await trio.sleep(next(delays, 0.0))
        self._fail(part, f, failed)
        return False

    async def _remote_attempt(
        self, part: Part, f: PartFragmentBody, attempt: int, start_hop: int
    ) -> int | tuple[str, tuple[str, ...], bool]:
        """One attempt: the hops when it completed, or (why not, the failed nodes,
        whether the failure was an answer rather than silence)."""
        other = f.nodes[1]
        timeout = part.body.execute_timeout_s
        ids = {"fragment_id": f.id, "attempt": attempt}
        try:
            agreed = await self._call(
                part,
                other,
                "ebit",
                {**ids, "hops": start_hop + 1},
                max(part.body.deadline - self.clock(), timeout),
            )
        except TransportError as exc:
            return f"{other}: {exc.code}: {exc}", (other,), False
        if not agreed.get("ok"):
            error = agreed.get("error", {})
            return f"{other}: {error.get('code')}: {error.get('message')}", (other,), True
        record = await self._execute(part, f, attempt, ops=True)
        hop = int(agreed.get("hops", start_hop + 1)) + 1
        try:
            answer = await self._call(
                part, other, "bits", {**ids, "hops": hop + 1, "record": record}, timeout
            )
        except TransportError as exc:
            return f"{other}: {exc.code}: {exc}", (other,), False
        theirs = answer.get("record") or {}
        if record.get("status") != "ok":
            return f"{self.name}: execution failed: {record.get('error')}", (self.name,), True
        if not answer.get("ok") or theirs.get("status") != "ok":
            why = theirs.get("error") or answer.get("error", {}).get("message")
            return f"{other}: execution failed: {why}", (other,), True
        part.records[f.id] = record
        return int(answer.get("hops", hop + 1)) + 1

    async def _agree(self, part: Part, msg: PeerMessageBody) -> dict[str, Any]:
        """The far end of a remote interaction: agree on the ebit of ``msg.attempt`` once
        this node's predecessors of it are done, then run this node's share."""
        key = (msg.fragment_id, msg.attempt)
        if msg.fragment_id not in part.ready:
            return protocol.error("not_found", f"{msg.fragment_id!r} is not this node's to share")
        await part.ready[msg.fragment_id].wait()
        if key not in part.running:
            part.running[key] = trio.Event()
            assert self._nursery is not None
            self._nursery.start_soon(self._share, part, msg.fragment_id, msg.attempt)
        hops = max(msg.hops, part.hops.get(msg.fragment_id, 0))
        return {"ok": True, "hops": hops}

    async def _share(self, part: Part, fid: str, attempt: int) -> None:
        key = (fid, attempt)
        try:  # not under the part's scope: a share that started runs to its end
            part.replies[key] = await self._execute(part, part.fragment(fid), attempt, ops=False)
        finally:
            part.running[key].set()

    async def _bits(self, part: Part, msg: PeerMessageBody) -> dict[str, Any]:
        """The initiator's bits of an attempt: answered with this node's record of it."""
        key = (msg.fragment_id, msg.attempt)
        if key not in part.running:
            return protocol.error("not_found", f"no ebit was agreed for attempt {msg.attempt}")
        await part.running[key].wait()
        mine = part.replies.get(key, {"status": "failed", "error": "not run (cancelled)"})
        part.attempts[msg.fragment_id] = msg.attempt + 1
        theirs = msg.record or {}
        if mine.get("status") == "ok" and theirs.get("status") == "ok":
            part.records[msg.fragment_id] = mine
            self._mark_done(part, msg.fragment_id, msg.hops)
        return {"ok": True, "record": mine, "hops": msg.hops}

    async def _notify(self, part: Part, f: PartFragmentBody) -> None:
        """Tell the nodes of ``f``'s successors that it is done (a lost notice is made
        good by their ``progress`` question)."""
        body = {"fragment_id": f.id, "hops": part.hops.get(f.id, 0) + 1}

        async def one(node: str) -> None:
            try:
                await self._call(part, node, "notice", body, NOTICE_TIMEOUT_S)
            except TransportError as exc:
                logger.info("{}: notice of {} to {} lost: {}", self.name, f.id, node, exc)

        async with trio.open_nursery() as nursery:
            for node in f.notify:
                nursery.start_soon(one, node)

    async def _call(
        self, part: Part, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """One message to a peer of the run, counted (request and reply) in its traffic."""
        message = {"run_id": part.run_id, "from": self.name, **body}
        reply = await self.peers.call(node, verb, message, timeout)
        part.peer_messages += 2
        part.peer_bytes += message_size(message) + message_size(reply)
        return reply
