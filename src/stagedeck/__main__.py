"""Allow ``python -m stagedeck`` so the quick start never depends on PATH."""

from stagedeck.startup_gc import pause_gc

pause_gc()  # before the imports (see stagedeck/startup_gc.py)

from stagedeck.cli.main import main  # noqa: E402

raise SystemExit(main())
