"""Where an environment process listens, and how a second process finds it.

An environment is named by its key: the environment name plus a short hash of
the recipe's resolved path, so two checkouts of one recipe are two
environments, and one recipe opened from two shells is one.

* The socket lives in a private directory (mode 0700): ``$XDG_RUNTIME_DIR/stagedeck``
  or, without one, ``<state dir>/stagedeck/run``. A recipe that shares the
  environment with a Unix group (``share_group``) puts it in a directory of
  that group under the registry instead.
* Every running environment process also announces itself in the *registry*,
  a sticky world-writable directory (``$STAGEDECK_REGISTRY``, default
  ``/tmp/stagedeck-registry``) holding one small JSON file per environment: who
  runs it, its pid and its socket. The announcement is what lets someone
  without access be told "alice runs this, privately" instead of silently
  starting a second environment on the same ports.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import pwd
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from stagedeck.recipe.model import Recipe

SOCKET_PATH_LIMIT = 107
"""sun_path holds 108 bytes with the terminating NUL."""


def env_key(recipe: Recipe) -> str:
    """The environment's identity on this host: name and a hash of the recipe path."""
    where = str(recipe.path)
    with contextlib.suppress(OSError):
        where = str(Path(recipe.path).resolve())
    digest = hashlib.sha256(where.encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in recipe.name)[:40]
    return f"{safe or 'env'}-{digest}"


def registry_dir() -> Path:
    return Path(os.environ.get("STAGEDECK_REGISTRY") or "/tmp/stagedeck-registry")


def private_dir() -> Path:
    """The owner's own socket directory (created 0700; refused if anyone else can enter)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        base = Path(runtime) / "stagedeck"
    else:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = Path(state) / "stagedeck" / "run"
    return base


def state_dir() -> Path:
    """Where environment processes keep their log and pid files."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "stagedeck" / "envproc"


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to uid {info.st_uid}, not to you")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def ensure_registry() -> Path:
    """The sticky, world-writable registry (like /tmp: each file stays its owner's)."""
    reg = registry_dir()
    if not reg.exists():
        with contextlib.suppress(FileExistsError):
            reg.mkdir(parents=True, mode=0o1777)
            os.chmod(reg, 0o1777)
    info = reg.stat()
    if stat.S_IMODE(info.st_mode) & 0o002 and not info.st_mode & stat.S_ISVTX:
        raise PermissionError(
            f"{reg} is writable by everyone without the sticky bit: anyone could replace "
            "announcements in it (chmod +t it, or set STAGEDECK_REGISTRY)"
        )
    return reg


@dataclass(frozen=True)
class Sharing:
    """Who besides the owner may attach: nobody, or a Unix group read-only or read-write."""

    group: str = ""
    mode: str = "read-only"
    """'read-only' or 'read-write' for members of ``group``."""

    @property
    def gid(self) -> int | None:
        if not self.group:
            return None
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            return None


def sharing_of(recipe: Recipe) -> Sharing:
    """The recipe's ``share_group``/``share_mode``, overridden by $STAGEDECK_SHARE_GROUP/MODE."""
    env = recipe.environment
    group = os.environ.get("STAGEDECK_SHARE_GROUP") or env.share_group
    mode = os.environ.get("STAGEDECK_SHARE_MODE") or env.share_mode
    return Sharing(group, mode if mode in ("read-only", "read-write") else "read-only")


def socket_path(recipe: Recipe, sharing: Sharing | None = None) -> Path:
    """Where this user's environment process for ``recipe`` listens."""
    key = env_key(recipe)
    sharing = sharing if sharing is not None else sharing_of(recipe)
    base = registry_dir() / f"{key}.d" if sharing.group else private_dir()
    path = base / f"{key}.sock"
    if len(str(path).encode()) > SOCKET_PATH_LIMIT:
        # A deep $XDG_RUNTIME_DIR would not fit a Unix socket path: a private temp dir does.
        short = Path(tempfile.gettempdir()) / f"stagedeck-{os.getuid()}"
        path = short / f"{key}.sock"
    return path


@dataclass(frozen=True)
class Announcement:
    """What the registry says about one running environment process."""

    key: str
    env: str
    recipe: str
    pid: int
    uid: int
    owner: str
    socket: str
    group: str = ""
    mode: str = ""
    started: float = 0.0

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def announcement_path(key: str) -> Path:
    return registry_dir() / f"{key}.json"


def announce(a: Announcement) -> None:
    reg = ensure_registry()
    target = reg / f"{a.key}.json"
    tmp = reg / f".{a.key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(a)))
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def withdraw(key: str, pid: int) -> None:
    """Remove our announcement (only if it is still ours)."""
    found = read_announcement(key)
    if found is not None and found.pid == pid:
        with contextlib.suppress(OSError):
            announcement_path(key).unlink()


def read_announcement(key: str) -> Announcement | None:
    """The registry's word on ``key``, if it can be trusted.

    The registry is writable by everyone, so a file is believed only when the
    account it names owns it, and the socket it points to is owned by that account
    too: nobody can point someone else's cockpit at a socket of their own."""
    path = announcement_path(key)
    try:
        with path.open() as handle:
            owner = os.fstat(handle.fileno()).st_uid
            raw = json.loads(handle.read())
        found = Announcement(**{k: raw[k] for k in Announcement.__dataclass_fields__ if k in raw})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if owner != found.uid:
        return None
    try:
        if os.lstat(found.socket).st_uid != found.uid:
            return None
    except FileNotFoundError:
        return found  # gone already: the caller finds it dead
    except OSError:
        pass  # cannot look (a private directory): connecting will say so
    return found


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def pids_file(key: str) -> Path:
    return state_dir() / f"{key}.pids.json"


def log_file(key: str) -> Path:
    return state_dir() / f"{key}.log"
