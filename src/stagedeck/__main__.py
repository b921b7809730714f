"""Allow ``python -m stagedeck`` so the quick start never depends on PATH."""

from stagedeck.cli import main

raise SystemExit(main())
