"""Circuit ingestion (FR-003, FR-014): decode and size-check an input, pick a parser, parse.

Use :func:`qorch.ingest.load.load_circuit`.
"""
