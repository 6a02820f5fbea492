"""qorch: orchestrate quantum circuits across a network of simulated QPU service nodes.

The kernel package is deliberately small and cheap to import: submodules are imported
where they are used, so ``qorch --help`` does not pay for qiskit, dynaconf or peewee.
"""

__version__ = "0.1.0"
