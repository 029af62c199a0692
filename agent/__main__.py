"""Allow ``python3 -m agent`` as an alias of ``bridge-agent``."""

from agent.cli import main

raise SystemExit(main())
