"""The experiment harness (FR-013): suites, their runs on real clusters, the report."""
