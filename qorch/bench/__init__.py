"""Benchmarks (``qorch bench ...``): numbers go to ``bench/results/``, never into tests."""
