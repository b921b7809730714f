"""Who is at the keyboard, as the people sharing an environment see them."""

from __future__ import annotations

import getpass
import os

from stagedeck.text import clean


def current_user(override: str | None = None) -> str:
    """``--user``, else ``$USER``, else the login name (through the text gate: it is
    written to the shared file and shown on colleagues' screens)."""
    return clean(override or os.environ.get("USER") or getpass.getuser())
