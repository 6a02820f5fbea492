"""Test support shipped with qorch, for qorch's tests and plugin packs' tests only.

Nothing outside the tests imports this package (an import-linter contract). It holds:

* **contract tests**, written once and run against every installed implementation of a
  kind, so an installed plugin pack is under test (DESIGN §4): ``compile_contract``
  (placement strategies, cost models), ``transport_contract``, ``store_contract``,
  ``kind_contracts`` (parsers, fallback policies, node types, fault injectors);
* **doubles for unit tests**: ``memory_store`` (an in-memory store), ``node_client``
  (node services called in process);
* **helpers for integration tests with real processes**: ``cluster`` (node processes
  on 127.0.0.1), ``coordinator_process`` (re-exports :mod:`qorch.coordinator.process`);
* **generators**: hypothesis strategies for circuits and topologies; ``plan_checks``
  re-exports the plan checker of :mod:`qorch.compile.check`.
"""
