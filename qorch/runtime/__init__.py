"""The coordinator's runtime: runs plans on nodes, retries, falls back (FR-006, FR-007)."""
