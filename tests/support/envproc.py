"""Keep each test's environment processes to itself: own runtime dir, registry and state."""

from __future__ import annotations

from pathlib import Path


def isolated_env(tmp_path: Path, *, grace: float | None = 1.0) -> dict[str, str]:
    """Variables that give environment processes started under ``tmp_path`` their own
    socket directory, registry and state; ``grace`` is how long an ephemeral one waits
    for its last viewer to come back (None: the default a user gets)."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    env = {
        "XDG_RUNTIME_DIR": str(run),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "STAGEDECK_REGISTRY": str(tmp_path / "registry"),
    }
    if grace is not None:
        env["STAGEDECK_IDLE_GRACE"] = str(grace)
    return env
