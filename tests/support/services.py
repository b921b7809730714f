"""A tiny HTTP service for target tests: starts after a delay, can be told to fail.

Usage: python services.py PORT [--delay SECONDS] [--children N]
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    args = sys.argv[2:]
    delay = float(args[args.index("--delay") + 1]) if "--delay" in args else 0.0
    children = int(args[args.index("--children") + 1]) if "--children" in args else 0
    # Children that would outlive a careless parent kill: they must die with the group.
    for _ in range(children):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"INFO starting on {port} pid={os.getpid()}", flush=True)
    time.sleep(delay)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"INFO serving on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
