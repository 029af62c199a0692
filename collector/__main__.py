"""``python -m collector``: the same as the ``bridge-collector`` command."""

from collector.cli import main

raise SystemExit(main())
