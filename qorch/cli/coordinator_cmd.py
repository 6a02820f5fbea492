"""``qorch coordinator`` and ``qorch up``: run the coordinator service (FR-009, FR-010).

``qorch coordinator [--bootstrap MULTIADDR ...] [--port P] [--data-dir D]`` joins a
network of nodes through the bootstrap peers; ``qorch up --topology T`` also starts one
node process per topology node on 127.0.0.1 and stops them on Ctrl-C. Both serve the
HTTP job API on 127.0.0.1 (``[coordinator] port``) and print one ``ready`` JSON line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import trio

from qorch.cli.app import started


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit 0."""
    from qorch.coordinator.server import run_coordinator

    with started(args, role="coordinator", data_dir=getattr(args, "data_dir", None)) as app:
        topology = Path(args.topology) if getattr(args, "topology", None) else None
        if topology is not None and not topology.is_file():
            from qorch.errors import ConfigError

            raise ConfigError(f"no topology file {topology}")
        trio.run(
            lambda: run_coordinator(
                app.plugins,
                app.settings.data_path(),
                port=args.port,
                bootstrap=tuple(getattr(args, "bootstrap", None) or ()),
                topology=topology,
                listen=getattr(args, "listen", None) or "/ip4/127.0.0.1/tcp/0",
            )
        )
    return 0
