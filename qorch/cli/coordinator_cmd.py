"""``qorch coordinator`` and ``qorch up``: run the coordinator service (FR-009, FR-010).

``qorch coordinator [--bootstrap MULTIADDR ...] [--port P] [--data-dir D]`` joins a
network of nodes through the bootstrap peers; ``qorch up --topology T`` also starts one
node process per topology node on 127.0.0.1 and stops them on Ctrl-C. Both serve the
HTTP job API on 127.0.0.1 (``[coordinator] port``) and print one ``ready`` JSON line.

Every input is checked before anything starts or is created (issue 15): the topology,
the bootstrap addresses, the API port; then the data directory is locked for the
service's lifetime (:mod:`qorch.datadir`).
"""

from __future__ import annotations

import argparse
import errno
import socket
from pathlib import Path

import trio

from qorch.cli.app import App, check_addresses, started
from qorch.cli.arguments import add_data_dir, port_number
from qorch.coordinator.server import run_coordinator
from qorch.datadir import locked
from qorch.errors import UsageError
from qorch.topology import load_addresses, load_topology


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit 0."""

    with started(args, role="coordinator", data_dir=getattr(args, "data_dir", None)) as app:
        topology = Path(args.topology) if getattr(args, "topology", None) else None
        if topology is not None:
            load_topology(topology)
        bootstrap = tuple(getattr(args, "bootstrap", None) or ())
        check_addresses(app, bootstrap, "--bootstrap")
        inventory = _inventory(app, args, topology)
        settings = app.settings.coordinator
        port = settings.port if args.port is None else args.port
        check_port_free(settings.host, port)
        data_dir = app.settings.data_path()
        with locked(data_dir, f"qorch {args.command}"):
            trio.run(
                lambda: run_coordinator(
                    app.plugins,
                    data_dir,
                    port=port,
                    bootstrap=bootstrap,
                    topology=topology,
                    inventory=inventory,
                    listen=getattr(args, "listen", None) or "/ip4/127.0.0.1/tcp/0",
                )
            )
    return 0


def _inventory(app: App, args: argparse.Namespace, topology: Path | None) -> Path | None:
    """``--inventory``, checked: the ``centralized`` hub's static inventory (issue 17) is
    a topology file whose nodes have an ``address``; ``qorch up`` makes its own."""
    path = Path(args.inventory) if getattr(args, "inventory", None) else None
    static = app.plugins.create("orchestration").discovery == "static"
    if path is not None and not static:
        raise UsageError(
            "--inventory: only an orchestration with a static inventory (centralized) "
            f"reads one; [runtime] orchestration is {app.settings.runtime.orchestration!r}"
        )
    if path is None and static and topology is None:
        raise UsageError(
            "the centralized orchestration's hub knows its nodes from a static inventory: "
            "give --inventory T (a topology file whose [[nodes]] have an address)"
        )
    if path is not None:
        addresses = load_addresses(path)
        if not addresses:
            raise UsageError(f"--inventory: no [[nodes]] entry of {path} has an address")
        check_addresses(app, list(addresses.values()), "--inventory")
    return path


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when the API's port is taken (bound the way the server binds it,
    so a port in TIME_WAIT after a previous coordinator still counts as free)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} is in use: choose --port or stop the other coordinator"
                ) from None
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def add_coordinator_arguments(
    parser: argparse.ArgumentParser, common: argparse.ArgumentParser
) -> None:
    """``qorch coordinator``'s arguments."""
    _add_service_arguments(parser, "run the coordinator service and its HTTP job API")
    parser.add_argument(
        "--bootstrap", nargs="+", default=None, metavar="MULTIADDR", help="node peers"
    )
    parser.add_argument("--listen", metavar="MULTIADDR", help="the coordinator peer's address")
    parser.add_argument(
        "--inventory",
        metavar="T",
        help="centralized orchestration: the topology file whose nodes' address the hub polls",
    )


def add_up_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch up``'s arguments."""
    _add_service_arguments(parser, "run the coordinator and one node process per topology node")
    parser.add_argument("--topology", required=True, metavar="T", help="topology TOML file")


def _add_service_arguments(parser: argparse.ArgumentParser, summary: str) -> None:
    """What ``qorch coordinator`` and ``qorch up`` share: their description (``summary``,
    as ``qorch --help`` lists it), ``--data-dir``, ``--port`` and how they run."""
    parser.description = summary + " (FR-006, FR-009, FR-010) until SIGINT/SIGTERM."
    add_data_dir(parser)
    parser.add_argument(
        "--port", type=port_number, metavar="P", help="API port (default: coordinator.port)"
    )
    parser.set_defaults(handler=run)
