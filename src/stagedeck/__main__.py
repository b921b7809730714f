"""Allow ``python -m stagedeck`` so the quick start never depends on PATH."""

from stagedeck.cli.main import main

raise SystemExit(main())
