"""``python -m qorch`` runs the command line."""

from qorch.cli.main import main

raise SystemExit(main())
