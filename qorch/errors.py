"""Structured errors of the kernel (FR-003, FR-011, FR-014).

Every error a user can cause is a :class:`QorchError` with a machine-readable ``kind``
and a message that says what was wrong and where. The command line and (later) the HTTP
API render these; neither ever shows a traceback for them.
"""

from __future__ import annotations

from typing import Any

import attrs

#: The kinds of :class:`CircuitError` (FR-003, FR-014).
CIRCUIT_ERROR_KINDS = ("syntax", "semantic", "unsupported", "limit", "encoding")


class QorchError(Exception):
    """Base class of every error qorch reports to a user (never shown as a traceback)."""

    kind: str = "error"

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-able mapping with at least ``kind`` and ``message``."""
        return {"kind": self.kind, "message": str(self)}


@attrs.frozen
class SourceLocation:
    """Where in a source text something is: 1-based ``line`` and ``column``.

    ``source_line`` is the text of that line (without its newline), for display.
    """

    line: int | None = None
    column: int | None = None
    source_line: str | None = None

    @classmethod
    def in_text(cls, text: str, line: int | None, column: int | None) -> SourceLocation:
        """Locate 1-based ``line``/``column`` in ``text``, filling in ``source_line``."""
        source_line = None
        if line is not None and text:
            lines = text.splitlines()
            if 1 <= line <= len(lines):
                source_line = lines[line - 1]
        return cls(line=line, column=column, source_line=source_line)


class CircuitError(QorchError):
    """A circuit input was rejected (FR-003): one structured validation error.

    ``kind`` is one of ``syntax``, ``semantic``, ``unsupported``, ``limit``, ``encoding``;
    ``line`` and ``column`` are 1-based (``None`` when the problem has no single place,
    e.g. a limit on the whole input); ``source_line`` is the offending line's text.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        location: SourceLocation | None = None,
    ) -> None:
        if kind not in CIRCUIT_ERROR_KINDS:
            raise ValueError(f"unknown circuit error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.location = location or SourceLocation()

    @property
    def line(self) -> int | None:
        """1-based line of the problem, if it has one."""
        return self.location.line

    @property
    def column(self) -> int | None:
        """1-based column of the problem, if it has one."""
        return self.location.column

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "message", "line", "column", "source_line"}``."""
        return {
            "kind": self.kind,
            "message": self.message,
            "line": self.location.line,
            "column": self.location.column,
            "source_line": self.location.source_line,
        }

    def __str__(self) -> str:
        where = ""
        if self.location.line is not None:
            where = f"line {self.location.line}"
            if self.location.column is not None:
                where += f", column {self.location.column}"
            where += ": "
        return f"{self.kind} error: {where}{self.message}"


class ConfigError(QorchError):
    """Invalid configuration (FR-011): names the key, the value, its source, what was expected."""

    kind = "config"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        text = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__("invalid configuration:\n" + text)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "config", "message", "problems": [...]}``."""
        return {"kind": self.kind, "message": str(self), "problems": self.problems}


class UsageError(QorchError):
    """A command was asked for something it cannot do as given: a missing file, a port in
    use, a data directory held by another process. The message is one sentence naming
    the thing and the fix."""

    kind = "usage"


class PluginError(QorchError):
    """A plugin could not be loaded, registered or selected."""

    kind = "plugin"


class UnknownImplementation(PluginError):
    """Config or a caller asked for an implementation name that is not registered;
    ``provider`` is the distribution that provides it, when qorch knows one."""

    def __init__(
        self,
        kind: str,
        name: str,
        available: list[str],
        broken: list[str],
        provider: str | None = None,
    ) -> None:
        self.impl_kind = kind
        self.name = name
        self.available = available
        self.provider = provider
        msg = f"no {kind} named {name!r}; available: {', '.join(available) or '(none)'}"
        if provider:
            msg += f"; it comes with the distribution {provider} (pip install {provider})"
        if broken:
            msg += "; plugins that failed to load: " + "; ".join(broken)
        super().__init__(msg)


class StoreError(QorchError):
    """The store refused an operation (missing record, illegal transition, schema not current)."""

    kind = "store"


class TransitionRefused(StoreError):
    """A job's state transition lost a compare-and-set (FR-009, FR-010): the job was not
    in the state the caller expected, or the transition is not in
    :data:`qorch.model.JOB_TRANSITIONS`. ``state`` is the job's state as the store found
    it — a terminal one means the job had already ended."""

    kind = "conflict"

    def __init__(self, job_id: str, state: str, new: str, expected: str | None = None) -> None:
        self.job_id, self.state, self.new, self.expected = job_id, state, new, expected
        if expected is not None and expected != state:
            message = f"job {job_id!r} is {state}, not {expected}: no transition to {new}"
        else:
            message = f"job {job_id!r}: illegal transition {state} -> {new}"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "conflict", "message", "state", "where"}``."""
        return {
            "kind": self.kind,
            "message": str(self),
            "state": self.state,
            "where": f"job {self.job_id}",
        }


class FragmentFailed(QorchError):
    """A fragment failed on every attempt (FR-007): which, where, how often, last error."""

    kind = "fragment_failed"

    def __init__(
        self,
        fragment: str,
        nodes: tuple[str, ...],
        attempts: int,
        error: str,
        failed: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(
            f"fragment {fragment} on {', '.join(nodes)} failed after {attempts} attempt(s): {error}"
        )
        self.fragment, self.nodes, self.attempts, self.error = fragment, nodes, attempts, error
        #: the nodes whose calls failed on the last attempt (a remote fragment's other end
        #: may be fine): these are the ones a fallback leaves out
        self.failed = failed or nodes

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "message", "fragment", "nodes", "attempts", "error"}``."""
        return {
            "kind": self.kind,
            "message": str(self),
            "fragment": self.fragment,
            "nodes": list(self.nodes),
            "attempts": self.attempts,
            "error": self.error,
            "failed_nodes": list(self.failed),
        }


class ReservationFailed(FragmentFailed):
    """A node would not hold the job's qubits before its deadline, or did not answer
    (FR-005). It names the node like a failed fragment (fragment ``*``: the job's
    window), so the fallback policy can plan the job without it (FR-007)."""

    kind = "reservation_failed"

    def __init__(self, node: str, error: str) -> None:
        super().__init__("*", (node,), 1, error)
        self.args = (f"{node}: {error}",)
