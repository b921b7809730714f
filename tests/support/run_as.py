"""Run ``stagedeck ARGS`` as another Unix user: ``python run_as.py USER ARGS...`` (as root).

On this machine the Python interpreter lives under /root (mode 0700), so
another account cannot even start it. So we start it as root, import what the
commands need, and only then take on the other user's identity (groups as at
login, then gid, then uid) before any stagedeck code runs. Everything the test
is about (connecting to a socket, what SO_PEERCRED says) happens with the
other user's credentials.
"""

from __future__ import annotations

import os
import pwd
import sys


def main() -> int:
    user, args = sys.argv[1], sys.argv[2:]
    # Everything the commands import lazily, while the interpreter's files are readable.
    import argparse  # noqa: F401
    import asyncio  # noqa: F401
    import concurrent.futures.thread  # noqa: F401
    import json  # noqa: F401
    import secrets  # noqa: F401
    import tomllib  # noqa: F401

    import httpx  # noqa: F401
    import sqlite_utils  # noqa: F401

    import stagedeck.cli.actions
    import stagedeck.cli.check
    import stagedeck.cli.envproc
    import stagedeck.cli.headless
    import stagedeck.cli.operate
    import stagedeck.config.userconfig
    import stagedeck.engine.actions
    import stagedeck.engine.seeding
    import stagedeck.envproc.client
    import stagedeck.envproc.daemon
    import stagedeck.envproc.mirror
    import stagedeck.envproc.remote
    import stagedeck.inputfile
    import stagedeck.operations.requests
    import stagedeck.store
    import stagedeck.store.identity  # noqa: F401
    from stagedeck.cli.main import main as stagedeck_main

    entry = pwd.getpwnam(user)
    os.initgroups(user, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    return stagedeck_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
