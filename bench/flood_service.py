"""A log source for the flood benchmark: RATE lines a second (0: as fast as it can).

Every line carries the wall-clock time it was written (``t=…``), so the
benchmark can read the newest line's age off the screen. The number of lines
written so far goes to COUNTFILE twice a second.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    name, rate, count_file = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    out = sys.stdout
    written = 0
    last_report = time.monotonic()
    start = time.monotonic()
    while True:
        now = time.time()
        if rate:
            target = int((time.monotonic() - start) * rate) + 1
            batch = max(0, target - written)
            if batch == 0:
                time.sleep(min(0.01, 1 / rate))
                continue
        else:
            batch = 500
        out.write(
            "".join(
                f"t={now:.3f} INFO  {name} rid=r{written + i:08d} flood line {written + i} "
                f"order=o-{(written + i) % 9999:05d} status=ok\n"
                for i in range(batch)
            )
        )
        out.flush()
        written += batch
        if time.monotonic() - last_report > 0.5:
            last_report = time.monotonic()
            with open(count_file + ".tmp", "w") as f:
                f.write(str(written))
            os.replace(count_file + ".tmp", count_file)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
