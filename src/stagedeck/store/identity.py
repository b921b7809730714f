"""Who is at the keyboard, as the people sharing an environment see them."""

from __future__ import annotations

import getpass
import os


def current_user(override: str | None = None) -> str:
    """``--user``, else ``$USER``, else the login name."""
    return override or os.environ.get("USER") or getpass.getuser()
