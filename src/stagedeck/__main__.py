"""Allow ``python -m stagedeck`` so the quick start never depends on PATH."""

import sys

from stagedeck.firstframe import paint_early
from stagedeck.startup_gc import pause_gc

pause_gc()  # before the imports (see stagedeck/startup_gc.py)
paint_early(sys.argv[1:])  # before the imports too (see stagedeck/firstframe)

from stagedeck.cli.main import main  # noqa: E402

raise SystemExit(main())
