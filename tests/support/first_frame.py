"""Run the ``stagedeck`` command and write the modules loaded at its first frame to a file.

    python tests/support/first_frame.py OUT -- demo --free-ports

The first frame is the first large write to the terminal (Textual's driver); at
that moment the names in ``sys.modules`` go to OUT, one a line, and the program
carries on as usual. Used to prove what start-up does not import.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    out = Path(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    from textual.drivers import linux_driver

    original = linux_driver.LinuxDriver.write
    done = [False]

    def write(self: linux_driver.LinuxDriver, data: str) -> None:
        if not done[0] and len(data) > 2000:
            done[0] = True
            out.write_text("\n".join(sorted(sys.modules)) + "\n")
        original(self, data)

    linux_driver.LinuxDriver.write = write  # type: ignore[method-assign]
    from stagedeck.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
