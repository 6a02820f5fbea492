"""``qorch node`` (run a service node) and ``qorch nodes`` (list what a network advertises).

``qorch node`` prints one line ``ready <multiaddr>/p2p/<peer-id>`` on stdout when it
serves, then runs until SIGTERM/SIGINT (FR-001, FR-005). ``qorch nodes`` joins as an
observer for ``--wait`` seconds and prints every node it saw (FR-002).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import attrs
import trio

from qorch.cli.app import App, check_addresses, started
from qorch.cli.arguments import add_data_dir
from qorch.cli.client_cmd import nodes, print_nodes
from qorch.coordinator.discovery import Discovery
from qorch.coordinator.node_registry import NodeRegistry
from qorch.datadir import locked
from qorch.errors import QorchError, UsageError
from qorch.faults import load_schedule
from qorch.node.advert import LinkQuality
from qorch.node.presets import PRESETS
from qorch.node.protocol import REGISTRY_VERBS
from qorch.node.serving import NodeOptions, run_node
from qorch.node.watchdog import PARENT_PIPE_OPTION, check_parent_pipe
from qorch.topology import NodeSpec, load_topology
from qorch.transport import PeerConfig


class NodeSpecError(QorchError):
    """The node to run is not described well enough."""

    kind = "config"


def node_links(args: argparse.Namespace, name: str) -> tuple[LinkQuality, ...]:
    """The node's links as its topology file lists them (none without ``--topology``)."""
    if not args.topology:
        return ()
    out = []
    for link in load_topology(args.topology).links:
        if name in (link.a, link.b):
            other = link.b if link.a == name else link.a
            out.append(LinkQuality(other, link.fidelity, link.latency_ms))
    return tuple(out)


def node_spec(app: App, args: argparse.Namespace) -> NodeSpec:
    """The spec of the node to run: a topology entry, or ``[node]`` with its node type."""
    settings = app.settings
    if args.topology:
        topology = load_topology(args.topology)
        names = [n.name for n in topology.nodes]
        if not args.name:
            raise NodeSpecError(f"--topology needs --name, one of: {', '.join(names)}")
        if args.name not in names:
            raise NodeSpecError(
                f"no node {args.name!r} in {args.topology}; nodes: {', '.join(names)}"
            )
        return topology.node(args.name)
    node = settings.node

    name = args.name or node.name
    if node.node_type in PRESETS:
        spec = app.plugins.create("node_type", "simulated").describe(name, node.node_type)
    else:
        spec = app.plugins.create("node_type", node.node_type).describe(name)
    return attrs.evolve(spec, qubits=node.qubits) if node.qubits else spec


def run_node_command(args: argparse.Namespace) -> int:
    """Run one service node until it is told to stop."""

    with started(args, role="node", data_dir=getattr(args, "data_dir", None)) as app:
        spec = node_spec(app, args)
        faults = Path(args.faults) if getattr(args, "faults", None) else None
        if faults is not None:
            load_schedule(faults)  # a bad file stops start-up with the reason
        net = app.settings.network
        bootstrap: list[str] = list(args.bootstrap if args.bootstrap is not None else net.bootstrap)
        check_addresses(app, bootstrap, "--bootstrap")
        if args.parent_pipe is not None:
            try:
                check_parent_pipe(args.parent_pipe)
            except ValueError as exc:
                raise UsageError(f"{PARENT_PIPE_OPTION} {args.parent_pipe}: {exc}") from None
        data_dir = app.settings.data_path()
        if not getattr(args, "data_dir", None):
            data_dir = data_dir / "nodes" / spec.name

        def ready(line: str) -> None:
            print(line, flush=True)

        options = NodeOptions(
            listen=args.listen or net.listen,
            data_dir=data_dir,
            bootstrap=bootstrap,
            seed=app.settings.node.seed,
            time_scale=app.settings.node.time_scale,
            links=node_links(args, spec.name),
            faults=faults,
            parent_fd=args.parent_pipe,
        )
        with locked(data_dir, "qorch node"):
            trio.run(lambda: run_node(spec, app, options, on_ready=ready))
    return 0


def run_nodes_command(args: argparse.Namespace) -> int:
    """Observe the network for ``--wait`` seconds and list the nodes seen (with ``--url``:
    ask that coordinator for its registry instead)."""
    if args.url:
        return nodes(args)
    if not args.bootstrap:
        raise UsageError("qorch nodes needs --bootstrap MULTIADDR... or --url URL")

    with started(args, role="observer") as app:
        check_addresses(app, args.bootstrap, "--bootstrap")
        settings = app.settings
        registry = NodeRegistry(settings.network, settings.quality)
        discovery = Discovery(registry, probe=False)
        transport = app.plugins.create("transport")

        entries: list[dict] = []

        async def observe(identity: Path) -> None:
            config = PeerConfig(
                "observer",
                identity,
                settings.network.listen,
                settings.network.max_message_bytes,
                REGISTRY_VERBS,
            )
            async with transport.open(config, discovery, discovery.on_disconnect) as peer:
                with trio.move_on_after(args.wait):
                    await discovery.run(peer, list(args.bootstrap))
                now = time.time()  # while still connected: what the network looks like
                entries.extend(e.describe(now) for e in registry.entries())

        with tempfile.TemporaryDirectory(prefix="qorch-observer-") as tmp:
            trio.run(observe, Path(tmp))
    print_nodes(entries, args.json)
    if registry.rejected:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(registry.rejected.items()))
        print(f"rejected adverts: {counts}", file=sys.stderr)
    return 0


def add_node_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch node``'s arguments (FR-001, FR-005)."""
    parser.description = (
        "Run a service node (FR-001, FR-005) until SIGTERM/SIGINT. Its spec comes "
        "from [node] in the settings file (--config), or from a topology entry."
    )
    add_data_dir(parser)
    parser.add_argument("--listen", metavar="MULTIADDR", help="default: network.listen")
    parser.add_argument(
        "--bootstrap", nargs="+", default=None, metavar="MULTIADDR", help="peers to join through"
    )
    parser.add_argument("--topology", metavar="T", help="topology file holding the node's spec")
    parser.add_argument("--name", metavar="N", help="the node's name (with --topology: its entry)")
    parser.add_argument(
        "--faults",
        metavar="FILE",
        help="a fault schedule (JSON) whose latency spikes and degradations this node applies",
    )
    parser.add_argument(
        PARENT_PIPE_OPTION,
        type=int,
        default=None,
        metavar="FD",
        help="an inherited pipe's read end: stop when it closes, i.e. when the process "
        "that started the node (qorch run, qorch up, the harness) ends",
    )
    parser.set_defaults(handler=run_node_command)


def add_nodes_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch nodes``'s arguments (FR-002)."""
    parser.description = "Join the network as an observer, collect adverts and list them (FR-002)."
    parser.add_argument("--bootstrap", nargs="+", metavar="MULTIADDR", help="peers to join through")
    parser.add_argument(
        "--url", metavar="U", help="ask this coordinator's API instead of the network"
    )
    parser.add_argument("--api-key", metavar="K", help="API key for --url (default $QORCH_API_KEY)")
    parser.add_argument(
        "--wait", type=float, default=3.0, metavar="S", help="seconds to collect (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per node (JSON Lines)")
    parser.set_defaults(handler=run_nodes_command)
