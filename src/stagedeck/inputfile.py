"""Reading the files people hand us (recipes, includes, themes, config, ``{file:...}``).

Every such read is bounded and typed: a FIFO would block for ever, ``/dev/zero``
would fill memory, a directory or a Latin-1 file would end in a traceback. So
one function reads them all, and says what is wrong in words the user can act
on: which file, what it is instead of a regular file, which byte is not UTF-8.

:class:`UnreadableFile` is an ``OSError`` whose ``strerror`` is that message,
so every caller that already reports ``OSError`` (``cannot read recipe: ...``)
reports these too without knowing about them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from stagedeck.recipe.errors import ConfigError, Problem

MAX_FILE_BYTES: Final = 4 * 1024 * 1024
"""Recipes, themes and config are a few KiB; 4 MiB is generous and still bounded."""

MAX_VALUE_FILE_BYTES: Final = 1024 * 1024
"""A ``{file:PATH}`` value (a token, a certificate) is small."""

MAX_NESTING: Final = 32
"""Tables and arrays nested deeper than this are refused (tomllib would recurse)."""


class UnreadableFile(OSError):
    """A file we will not read, with the reason as ``strerror``."""

    def __init__(self, path: Path | str, reason: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, reason, str(path))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes(path: Path | str, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; :class:`UnreadableFile` else.

    Opened non-blocking and checked with ``fstat`` on the open descriptor, so a
    FIFO swapped in after a check cannot make the read hang.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise UnreadableFile(p, "it is a directory, not a file", errno.EISDIR) from None
    except ValueError:  # a NUL in the name: no file can have it
        raise UnreadableFile(p, "the file name contains a NUL character") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
            raise UnreadableFile(p, f"it is {_kind(st.st_mode)}, not a regular file", code)
        if st.st_size > limit:
            raise UnreadableFile(p, f"it is {_size(st.st_size)}; the limit is {_size(limit)}")
        chunks: list[bytes] = []
        total = 0
        while True:  # a file that grows while we read is still cut at the limit
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnreadableFile(p, f"it is larger than the limit of {_size(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path | str, *, limit: int = MAX_FILE_BYTES) -> str:
    """:func:`read_bytes` decoded as UTF-8; a bad byte is named with its offset and line."""
    data = read_bytes(path, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise UnreadableFile(
            path,
            f"not UTF-8 text: byte 0x{bad} at offset {exc.start} (line {line});"
            " save the file as UTF-8",
        ) from None


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """How deep tables and arrays nest in ``value`` (iteratively; stops past ``limit``)."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(item, Mapping):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            todo.extend((v, depth + 1) for v in item)
    return deepest


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def parse_toml(path: Path, text: str) -> tuple[dict[str, Any] | None, Problem | None]:
    """``text`` parsed as TOML, or the one problem that stops it (with its line).

    Nesting is bounded: ``tomllib`` recurses on nested arrays and inline tables,
    so ``a = [[[[...]]]]`` a few thousand deep is a RecursionError, and below that
    the loaders' own walks recurse too.
    """
    import re
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else None
        return None, Problem(
            path, line, "", f"not valid TOML: {exc}", "fix the syntax at that line"
        )
    except RecursionError:
        return None, _too_deep(path)
    if nesting_depth(data) > MAX_NESTING:
        return None, _too_deep(path)
    return data, None


def _too_deep(path: Path) -> Problem:
    return Problem(
        path,
        None,
        "",
        f"tables or arrays nested more than {MAX_NESTING} deep",
        "no stagedeck file needs that: flatten the nested values",
    )


def read_toml(
    path: Path,
    *,
    what: str,
    error: type[ConfigError] = ConfigError,
    limit: int = MAX_FILE_BYTES,
    hint: str = "",
) -> tuple[str, dict[str, Any]]:
    """(text, data) of a TOML file, or ``error`` with the one problem that stops it."""
    try:
        text = read_text(path, limit=limit)
    except OSError as exc:
        problem = Problem(path, None, "", f"cannot read {what}: {exc.strerror or exc}", hint)
        raise error([problem]) from None
    data, bad = parse_toml(path, text)
    if data is None:
        assert bad is not None
        raise error([bad])
    return text, data
