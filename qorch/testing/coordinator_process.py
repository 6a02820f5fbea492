"""Re-exported for tests: the coordinator child process lives in
:mod:`qorch.coordinator.process` (the benchmarks use it too, and nothing outside the
tests imports ``qorch.testing``)."""

from qorch.coordinator.process import (
    READY_TIMEOUT_S,
    CoordinatorProcess,
    create_api_key,
    start_node_process,
)

__all__ = ["READY_TIMEOUT_S", "CoordinatorProcess", "create_api_key", "start_node_process"]
