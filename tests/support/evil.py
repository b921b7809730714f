"""A service whose log lines try to style and control the terminal, then serve /health."""

from __future__ import annotations

import http.server
import sys
import time

LINES = [
    "[bold red]MARKUP-NOT-BOLD[/] [link=http://evil]click[/link]",
    "\x1b[31mRED-TEXT\x1b[0m plain after",
    "cursor\x1b[2J\x1b[H\x1b[10;10HMOVED",
    "title\x1b]0;EVILTITLE\x07 after-title",
    "clip\x1b]52;c;ZXZpbC1jbGlwYm9hcmQ=\x07 after-clip",
    "link\x1b]8;;http://evil.example/\x1b\\EVIL-LINK\x1b]8;;\x1b\\ after-link",
    "bell\x07\x07 dcs\x1bP1$qm\x1b\\ c1\x9b31m after-c1",
    "ERROR a real error line rid=req-evil",
]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    for line in LINES:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    time.sleep(0.05)
    server.serve_forever()


if __name__ == "__main__":
    main()
