"""stagedeck's own log: a rotating file in the XDG state directory, secrets masked.

Without a handler the ``log.warning`` calls across the code reached only
Python's last-resort stderr printer (which garbles the cockpit) or nothing. Now
they go to ``$XDG_STATE_HOME/stagedeck/stagedeck.log`` (``~/.local/state/...``),
rotated at 1 MB with three old files kept, so a 3 a.m. "what just happened?"
has an answer. ``--debug`` (or ``STAGEDECK_DEBUG=1``) records debug detail too.

Start-up time matters: ``logging.handlers`` (and the file) are only touched when
the first record is written, so a command that logs nothing pays nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from stagedeck.recipe.secrets import MaskingFilter, SecretMasker

LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

masker = SecretMasker()
"""The secrets of every recipe this process loaded; applied to every log record."""


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "stagedeck"


def log_path() -> Path:
    """``$STAGEDECK_LOG`` if set, else ``stagedeck.log`` in the XDG state directory."""
    named = os.environ.get("STAGEDECK_LOG")
    return Path(named).expanduser() if named else state_dir() / "stagedeck.log"


def remember_secrets(secrets: frozenset[str] | set[str] | list[str]) -> None:
    """Add a loaded recipe's secret values to what the log masks."""
    masker.update(masker.secrets | frozenset(secrets))


class _LazyRotatingFile(logging.Handler):
    """A RotatingFileHandler built at the first record (import and open deferred)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._inner: logging.Handler | None = None
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._failed:
            return
        if self._inner is None:
            try:
                from logging.handlers import RotatingFileHandler

                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                inner = RotatingFileHandler(
                    self.path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
                )
            except OSError:
                self._failed = True  # a read-only home must not stop the cockpit
                return
            inner.setFormatter(self.formatter)
            self._inner = inner
        self._inner.emit(record)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
        super().close()


def setup_logging(debug: bool = False) -> Path:
    """Route the ``stagedeck`` logger to the log file, once per process; return its path."""
    logger = logging.getLogger("stagedeck")
    path = log_path()
    debug = debug or os.environ.get("STAGEDECK_DEBUG", "") not in ("", "0")
    for handler in list(logger.handlers):
        if isinstance(handler, _LazyRotatingFile):
            if handler.path == path:
                logger.setLevel(logging.DEBUG if debug else logging.INFO)
                return path
            logger.removeHandler(handler)  # $STAGEDECK_LOG changed (tests): follow it
            handler.close()
    handler = _LazyRotatingFile(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(MaskingFilter(masker))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    # With a handler in the tree, Python's last-resort stderr printer stays quiet:
    # stderr is the cockpit's screen.
    return path
