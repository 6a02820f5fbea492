"""qorch-metis: a placement strategy backed by METIS graph partitioning."""

__version__ = "0.1.0"
