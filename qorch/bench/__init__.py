"""Benchmarks (``qorch bench ...``): numbers go to files under ``bench/results/``, never into tests."""
