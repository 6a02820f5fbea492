"""The ``qorch`` command line. :mod:`qorch.cli.main` stays import-cheap (``--help`` < 0.5 s)."""
