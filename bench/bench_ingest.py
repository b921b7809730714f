"""Log ingest through the text gate: lines a second of CPU, clean batches and dirty ones.

    python bench/bench_ingest.py

A batch is scanned once for anything unsafe (escape sequences, controls,
bidi and zero-width characters); only a batch with a hit pays per line. The
figures are CPU time (``process_time``), best of nine, so a busy machine
skews them less than wall time would.
"""

from __future__ import annotations

import time

from stagedeck.engine.logs import LogHub

LINE = "2026-12-01T18:00:00Z INFO request handled rid=req-{i:06d} path=/api/orders status=200"
BATCH = [LINE.format(i=i) for i in range(2000)]
BATCHES = {
    "clean batch": BATCH,
    "one escape in the batch": [*BATCH[:-1], "bad \x1b[31mred\x1b[0m \u202eline"],
    "every line hostile": [f"{line} \x1b]0;title\x07\u200b" for line in BATCH],
    # A service logging in colour (the level and a field coloured, as structlog and
    # zap's console encoders do): its colours are kept as spans (issue 16).
    "every line in colour": [
        line.replace("INFO", "\x1b[32mINFO\x1b[0m").replace("rid=", "\x1b[2mrid=\x1b[0m")
        for line in BATCH
    ],
}


def main() -> None:
    for name, batch in BATCHES.items():
        hub = LogHub()
        best = float("inf")
        for _ in range(9):
            start = time.process_time()
            for _ in range(25):
                hub._ingest("svc", batch, "out", None)
            best = min(best, time.process_time() - start)
        per_line = best / (25 * len(batch))
        print(f"{name:>26}: {1 / per_line:>9,.0f} lines/s  ({per_line * 1e6:.1f} µs a line)")


if __name__ == "__main__":
    main()
