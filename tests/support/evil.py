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

HOSTILE = {
    "title": "t\x1b]0;EVILTITLE\x07i",
    "title2": "t\x1b]2;EVILTITLE\x1b\\i",
    "clipboard": "c\x1b]52;c;ZXZpbC1jbGlwYm9hcmQ=\x07l",
    "altscreen": "a\x1b[?1049ls",
    "status-query": "q\x1b[6nq",
    "hyperlink": "h\x1b]8;;http://evil.example/\x1b\\EVIL-LINK\x1b]8;;\x1b\\k",
    "dcs": "d\x1bP1$qm\x1b\\s",
    "apc": "p\x1b_EVILAPC\x1b\\c",
    "c1-csi": "c\x9b31m1",
    "bidi": "user\u202etxt.exe",
    "isolate": "a\u2066b\u2067c\u2068d\u2069e",
    "zero-width": "ad\u200bm\u200ci\u200dn\ufeff\u2060",
    "markup": "[bold red]MARKUP[/] [link=http://evil]x[/link]",
    "bell": "b\x07\x07l",
}
"""Hostile text for every source: each must reach the terminal as inert text."""

FORBIDDEN_BYTES = (
    b"\x1b]0;EVIL",
    b"\x1b]2;EVIL",
    b"\x1b]52",
    b"\x1b[?1049l",
    b"\x1b[6n",
    b"\x1b]8;;http://evil",
    b"\x1bP1$q",
    b"\x1b_EVIL",
    b"\x9b31m",
    b"\xc2\x9b",  # C1 CSI, UTF-8 encoded
    b"\xe2\x80\xae",  # U+202E
    b"\xe2\x81\xa6",  # U+2066
    b"\xe2\x80\x8b",  # U+200B
    b"\xef\xbb\xbf",  # U+FEFF
)
"""Byte strings that must never appear in what the program writes to the terminal."""


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
