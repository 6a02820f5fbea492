"""Minimum vertex cover of a bipartite graph (König's theorem), deterministic.

Which shares serve the remote gates that either of their qubits could carry is a
vertex-cover problem on a bipartite graph (DESIGN §7; pytket-dqc solves the same one):
its vertices are candidate shares, its edges the gates. A maximum matching by augmenting
paths, then König's construction, gives a minimum cover exactly.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

V = TypeVar("V", bound=Hashable)


def max_matching(adj: dict[V, list[V]]) -> dict[V, V]:
    """Maximum matching, as right vertex -> left vertex (iterative augmenting paths)."""
    match_right: dict[V, V] = {}
    for root in adj:
        parent: dict[V, V] = {}  # right vertex -> the left vertex that reached it
        stack: list[tuple[V, int]] = [(root, 0)]
        via: dict[V, V | None] = {root: None}  # left vertex -> right vertex it came through
        found: V | None = None
        while stack and found is None:
            left, i = stack.pop()
            neighbours = adj[left]
            while i < len(neighbours):
                right = neighbours[i]
                i += 1
                if right in parent:
                    continue
                parent[right] = left
                nxt = match_right.get(right)
                if nxt is None:
                    found = right
                    break
                if nxt not in via:
                    via[nxt] = right
                    stack.append((left, i))
                    stack.append((nxt, 0))
                    break
        if found is None:
            continue
        end: V | None = found
        while end is not None:  # flip the augmenting path
            left = parent[end]
            match_right[end] = left
            end = via[left]
    return match_right


def min_vertex_cover(edges: Iterable[tuple[V, V]]) -> set[V]:
    """A minimum vertex cover of the bipartite graph with ``(left, right)`` edges."""
    adj: dict[V, list[V]] = {}
    for left, right in sorted(set(edges)):
        adj.setdefault(left, []).append(right)
    match_right = max_matching(adj)
    matched_left = set(match_right.values())
    reached_left = [v for v in adj if v not in matched_left]
    seen_left, seen_right = set(reached_left), set()
    while reached_left:
        left = reached_left.pop()
        for right in adj[left]:
            if right in seen_right:
                continue
            seen_right.add(right)
            partner = match_right.get(right)
            if partner is not None and partner not in seen_left:
                seen_left.add(partner)
                reached_left.append(partner)
    return (set(adj) - seen_left) | seen_right
