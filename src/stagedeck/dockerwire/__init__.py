"""The Docker engine's log wire format, read from raw bytes: standard library only.

Two readers need it. The cockpit's Docker target (``targets/docker``: the SDK
path, and :mod:`~stagedeck.targets.docker.logmux` on the engine's own socket),
and the early frame (:mod:`stagedeck.firstframe`), which shows the containers'
last lines and follows them before the cockpit is even imported, and so can
afford no import it does not need (``targets/`` brings the recipe model,
30-75 ms). One implementation serves both, so the early frame and the cockpit
show the same lines (a message the log driver cut into 16 KB pieces is one line
in both).

- :mod:`.stamps` — the engine's RFC 3339 time stamps, in nanoseconds;
- :mod:`.logframes` — the logs body: 8-byte-headed frames, or raw for a TTY;
- :mod:`.response` — the HTTP/1.x response around it (status, headers, chunks).

Nothing here touches a socket, and nothing here imports the rest of stagedeck.
"""
