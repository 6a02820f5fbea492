"""Helpers for integration tests with real node processes (FR-005)."""

from __future__ import annotations

import time
from typing import Any


def reserve_body(fragment: str, qubits: int = 1, min_fidelity: float = 0.5) -> dict[str, Any]:
    """A ``reserve`` request for a one-second window starting now (FR-005)."""
    return {
        "correlation": {"job_id": "j", "fragment_id": fragment, "attempt": 0, "request_id": "r"},
        "operation": "fragment",
        "qubits": qubits,
        "start": time.time(),
        "duration_s": 1.0,
        "min_fidelity": min_fidelity,
    }
