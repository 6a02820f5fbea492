"""The network the compiler plans on: usable nodes, hop distances and link paths.

Only available, non-degraded nodes and non-degraded links take part (FR-008). An ebit
between nodes that are not neighbours is made by entanglement swapping along a path, one
ebit per hop; the path is the one with the fewest hops and, among those, the highest
product of link fidelities (ties broken by node names, so plans are deterministic).
"""

from __future__ import annotations

import itertools
import math
from collections import deque

from qorch.topology import LinkSpec, NodeSpec, Topology

UNREACHABLE = 10**6


class Network:
    """Usable nodes of a topology with all-pairs hop counts and paths."""

    def __init__(self, topology: Topology, min_link_fidelity: float = 0.0) -> None:
        self.topology = topology
        self.nodes: list[NodeSpec] = [n for n in topology.nodes if n.usable]
        self.names = [n.name for n in self.nodes]
        self.index = {name: i for i, name in enumerate(self.names)}
        k = len(self.nodes)
        self.links: dict[tuple[int, int], LinkSpec] = {}
        neighbours: list[list[int]] = [[] for _ in range(k)]
        for link in topology.links:
            if link.degraded or link.fidelity < min_link_fidelity:
                continue
            if link.a in self.index and link.b in self.index:
                a, b = self.index[link.a], self.index[link.b]
                self.links[(a, b)] = self.links[(b, a)] = link
                neighbours[a].append(b)
                neighbours[b].append(a)
        for adj in neighbours:
            adj.sort()
        self.hops = [[UNREACHABLE] * k for _ in range(k)]
        self.paths: list[list[list[int] | None]] = [[None] * k for _ in range(k)]
        for src in range(k):
            self._shortest_from(src, neighbours)
        #: classical latency between nodes with no link path (see :meth:`path_latency_ms`)
        self.relay_latency_ms = max((lk.latency_ms for lk in self.links.values()), default=1.0)
        #: connected component of each node (nodes in different ones cannot share ebits)
        self.component = [
            min(j for j in range(k) if self.hops[i][j] < UNREACHABLE) for i in range(k)
        ]
        #: every pair of nodes one hop apart (all-to-all): lets search count distinct nodes
        self.uniform = all(self.hops[a][b] == 1 for a in range(k) for b in range(k) if a != b)

    def _shortest_from(self, src: int, neighbours: list[list[int]]) -> None:
        # BFS by hops; among equal-hop paths keep the best log-fidelity (then lexicographic).
        best: dict[int, tuple[int, float, list[int]]] = {src: (0, 0.0, [src])}
        frontier = deque([src])
        while frontier:
            u = frontier.popleft()
            hops_u, logf_u, path_u = best[u]
            for v in neighbours[u]:
                cand = (hops_u + 1, logf_u + math.log(self.links[(u, v)].fidelity), [*path_u, v])
                old = best.get(v)
                if old is None:
                    best[v] = cand
                    frontier.append(v)
                elif old[0] == cand[0] and (cand[1], [-x for x in cand[2]]) > (
                    old[1],
                    [-x for x in old[2]],
                ):
                    best[v] = cand
        for v, (h, _logf, path) in best.items():
            self.hops[src][v] = h
            self.paths[src][v] = path

    def path_fidelity(self, a: int, b: int) -> float:
        """Product of link fidelities along the path from ``a`` to ``b`` (1 for a == b)."""
        path = self.paths[a][b]
        if path is None:
            return 0.0
        return math.prod(self.links[(u, v)].fidelity for u, v in itertools.pairwise(path))

    def path_latency_ms(self, a: int, b: int) -> float:
        """Sum of link latencies along the path (classical messages follow it too).

        Nodes with no link path still talk classically, through the coordinator: that
        costs the slowest link latency of the network (1 ms if it has no links).
        """
        path = self.paths[a][b]
        if path is None:
            return self.relay_latency_ms
        return sum(self.links[(u, v)].latency_ms for u, v in itertools.pairwise(path))

    def path_names(self, a: int, b: int) -> list[str]:
        """Node names along the path from ``a`` to ``b``."""
        return [self.names[i] for i in self.paths[a][b] or []]
