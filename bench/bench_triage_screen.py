"""Issue 12's on-screen figure: a demo service hangs; how soon does the cockpit name it?

Runs ``stagedeck demo`` in tmux (120x40), then, one at a time, SIGSTOPs a service
with no dependencies (payments, inventory, ledger in turn), times the moment the
suspect line reads "likely cause: SERVICE" on screen, SIGCONTs it and waits until
the line is gone and all six are healthy again. Prints every sample, the median
and the spread, from the SIGSTOP and from the first sign on screen (the row leaving
"healthy": the moment the fault became observable).

    python bench/bench_triage_screen.py [--rounds 4]

With the demo's probe interval (2 s) and timeout (1 s), a hang can only be observed
1–3 s after the SIGSTOP, depending on where in the interval it lands.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile

from common import Terminal

from support.hangs import Hang, measure_hang, service_pid

SERVICES = ("payments", "inventory", "ledger")


def healthy(screen: str) -> bool:
    return screen.count("● healthy") >= 6 and "likely cause" not in screen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4, help="hangs per service")
    args = parser.parse_args()
    hangs: list[Hang] = []
    with tempfile.TemporaryDirectory() as tmp:
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "demo", "--free-ports"],
            width=120,
            height=40,
            env={"XDG_CONFIG_HOME": tmp, "STAGEDECK_DB": f"{tmp}/db"},
        )
        try:
            term.wait_for(healthy, timeout=40)
            for _ in range(args.rounds):
                for service in SERVICES:
                    pid = service_pid(service, below=term.pid)
                    try:
                        hang = measure_hang(term, pid, service)
                    finally:
                        os.kill(pid, signal.SIGCONT)
                    hangs.append(hang)
                    print(
                        f"{service:<10} {hang.to_screen:5.2f} s  ({hang.from_sign:.2f} s from the first sign)"
                    )
                    term.wait_for(healthy, timeout=40)
            term.send("q")
            term.wait_for(lambda s: term.dead(), timeout=30)
        finally:
            term.close()
    to_screen = sorted(h.to_screen for h in hangs)
    from_sign = sorted(h.from_sign for h in hangs)
    print(
        f"\n{len(hangs)} hangs. SIGSTOP -> suspect on screen: median "
        f"{statistics.median(to_screen):.2f} s, min {to_screen[0]:.2f} s, max {to_screen[-1]:.2f} s"
    )
    print(
        f"first sign on screen -> suspect: median {statistics.median(from_sign):.2f} s, "
        f"max {from_sign[-1]:.2f} s"
    )


if __name__ == "__main__":
    main()
