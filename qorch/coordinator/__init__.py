"""The coordinator: node registry, job runtime and API (DESIGN §2)."""
