"""The coordinator's side of the ``distributed`` orchestration (issue 17, DESIGN §9).

:class:`ChoreographyRunner` reserves and releases like the hub
(:class:`~qorch.runtime.plan_runner.PlanRunner`), but does not dispatch fragments: it
hands every node its part of the plan once (``handout``) and collects every part's
records once (``collect``); the nodes run the fragments among themselves
(:mod:`qorch.node.choreography`). Its messages per job are therefore at most two calls
per node for the execution, whatever the number of fragments.

A part that ``failed`` (a fragment failed on every attempt) or is ``stuck`` (a node
waited for a peer that does not answer) becomes a
:class:`~qorch.errors.FragmentFailed` naming the nodes at fault, and the job's fallback
policy decides what follows, as under the hub; a node that cannot be collected from
(after the retry policy's tries) is the node at fault. Fragment events reach the
listener when the records do, with the nodes' times.
"""

from __future__ import annotations

from typing import Any

import trio

from qorch.errors import FragmentFailed
from qorch.plan import Fragment
from qorch.runtime.plan_runner import FragmentEvent, FragmentRun, PlanRunner, wire_ops
from qorch.transport import TransportError

#: extra time a collect call waits beyond the run's window (its records are on the way)
COLLECT_GRACE_S = 5.0


def ends(f: Fragment) -> tuple[str, ...]:
    """The nodes that run ``f``: its node, or both ends of a remote interaction."""
    return f.nodes if f.kind != "local" else (f.node,)


class ChoreographyRunner(PlanRunner):
    """Reserve, hand out, collect, release (see the module docstring)."""

    async def execute(self) -> None:
        """Hand every node its part, then collect every part's records."""
        parts = self.parts()
        async with trio.open_nursery() as nursery:
            for node, body in parts.items():
                nursery.start_soon(self._hand_out, node, body)
        replies: dict[str, dict[str, Any]] = {}
        async with trio.open_nursery() as nursery:
            for node in parts:
                nursery.start_soon(self._collect, node, replies)
        await self._finish(replies)

    def parts(self) -> dict[str, dict[str, Any]]:
        """The ``handout`` body of every node the plan uses."""
        by_id = {f.id: f for f in self.plan.fragments}
        successors: dict[str, set[str]] = {f.id: set() for f in self.plan.fragments}
        for f in self.plan.fragments:
            for dep in f.depends_on:
                successors[dep].update(ends(f))
        delays = list(self.options.retry.delays(self.rng))
        mine: dict[str, list[dict[str, Any]]] = {}
        for f in self.plan.fragments:
            entry = {
                "id": f.id,
                "kind": f.kind,
                "nodes": list(ends(f)),
                "depends_on": [{"id": d, "nodes": list(ends(by_id[d]))} for d in f.depends_on],
                "notify": sorted(successors[f.id] - set(ends(f))),
            }
            for i, node in enumerate(ends(f)):
                ops = wire_ops(f) if i == 0 else []
                mine.setdefault(node, []).append({**entry, "ops": ops})
        contacts = {n: self.client.contact(n) for n in mine}
        return {
            node: {
                "correlation": self._correlation("*", 0),
                "node": node,
                "reservation_id": self.reservations[node],
                "deadline": self.window_end,
                "attempts": self.options.retry.attempts,
                "delays_s": delays,
                "execute_timeout_s": self.options.timeouts.execute_remote,
                "peer_wait_s": self.options.peer_wait_s,
                "fragments": fragments,
                "peers": {n: c for n, c in contacts.items() if n != node and c is not None},
            }
            for node, fragments in mine.items()
        }

    async def _retried(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """:meth:`call_retried`; the node at fault when it never answers."""
        try:
            return await self.call_retried(node, verb, body, timeout)
        except TransportError as exc:
            raise self._failure(node, f"{node}: {exc.code}: {exc} ({verb})") from None

    def _failure(self, node: str, error: str) -> FragmentFailed:
        """The :class:`FragmentFailed` of ``node``'s first fragment, ``node`` at fault."""
        first = next(f for f in self.plan.fragments if node in ends(f))
        return FragmentFailed(first.id, ends(first), self.options.retry.attempts, error, (node,))

    async def _hand_out(self, node: str, body: dict[str, Any]) -> None:
        reply = await self._retried(node, "handout", body, self.options.timeouts.reserve)
        if not reply.get("ok"):
            error = reply.get("error", {})
            raise self._failure(
                node, f"{node} refused its part: {error.get('code')}: {error.get('message')}"
            )

    async def _collect(self, node: str, replies: dict[str, dict[str, Any]]) -> None:
        timeout = max(self.window_end - self.options.clock(), 0.0) + COLLECT_GRACE_S
        reply = await self._retried(node, "collect", {"run_id": self.job_id}, timeout)
        if not reply.get("ok"):
            error = reply.get("error", {})
            raise self._failure(node, f"{node}: {error.get('code')}: {error.get('message')}")
        if reply.get("state") != "done":
            problem = reply.get("problem") or {}
            fid = problem.get("fragment_id") or next(
                f.id for f in self.plan.fragments if node in ends(f)
            )
            raise FragmentFailed(
                fid,
                tuple(problem.get("nodes") or (node,)),
                int(problem.get("attempts") or self.options.retry.attempts),
                f"{reply.get('state')} on {node}: {problem.get('error', 'no reason given')}",
                tuple(problem.get("failed") or (node,)),
            )
        replies[node] = reply

    async def _finish(self, replies: dict[str, dict[str, Any]]) -> None:
        """The runs of every fragment from the parts' records; their events, in order."""
        for reply in replies.values():
            self.traffic.peer_messages += int(reply.get("peer_messages", 0))
            self.traffic.peer_bytes += int(reply.get("peer_bytes", 0))
            hops = int(reply.get("hops", 0))
            self.traffic.critical_path_hops = max(self.traffic.critical_path_hops, hops)
        for f in self.plan.fragments:
            nodes = ends(f)
            parts = [replies[n]["fragments"][f.id] for n in nodes]
            records = tuple(p["record"] for p in parts if p.get("record"))
            run = FragmentRun(
                f.id,
                f.kind,
                nodes,
                "ok",
                max(int(p.get("attempts", 1)) for p in parts),
                min((r["started_at"] for r in records), default=None),
                max((r["ended_at"] for r in records), default=None),
                tuple(e for p in parts for e in p.get("errors", ())),
                records,
            )
            self.runs[f.id] = run
            for state, at in (("RUNNING", run.started_at), ("COMPLETED", run.ended_at)):
                event = FragmentEvent(
                    self.job_id, f.id, nodes, state, run.attempts - 1,
                    at if at is not None else self.options.clock(),
                    run=run if state == "COMPLETED" else None,
                )  # fmt: skip
                await self.listener.on_fragment_state(event)
