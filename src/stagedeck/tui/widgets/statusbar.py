"""The status bar: environment, target, connection, health summary, clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

from stagedeck.engine.clock import wall
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Health
from stagedeck.store.shared import SharedSnapshot
from stagedeck.tui.palette import style
from stagedeck.tui.ticker import every


def gate_segment(snapshot: SharedSnapshot) -> tuple[str, str] | None:
    """ "gate NO-GO 2✗" and its semantic colour; None before any run."""
    if snapshot.last_run_id is None:
        return None
    gate = snapshot.gate
    if snapshot.last_run_open or gate is None:
        return f"gate pending (run {snapshot.last_run_id})", "degraded"
    failing = int(gate.get("failing") or 0)
    if gate.get("verdict") == "GO":
        return "gate GO", "healthy"
    return f"gate NO-GO {failing}✗", "down"


class StatusBar(Static):
    """One line; redrawn once a second and only when its text changed."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = wall) -> None:
        super().__init__("")
        self.engine = engine
        self._clock = clock
        self._drawn = ""
        self._key: tuple[object, ...] = ()
        self._unsubscribe: Callable[[], None] | None = None
        self.extra: dict[str, Text] = {}
        """Segments other features add (lease, presence, read-only), keyed by name."""

    def on_mount(self) -> None:
        shared = getattr(self.app, "shared", None)
        if shared is not None:
            self._unsubscribe = shared.subscribe(self._on_shared)
        read_only = getattr(self.app, "read_only", None)
        if read_only:
            badge = style(self.app, "degraded", bold=True)
            self.extra["read-only"] = Text("read-only", style=badge)
        self.tick()
        every(self, 1.0, self.tick)

    def on_resize(self) -> None:
        """The clock sits at the right edge: place it again when the width is known or changes."""
        self._drawn = ""
        self.tick()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _on_shared(self, snapshot: SharedSnapshot) -> None:
        """Lease, presence and the database banner, as every sharing cockpit sees them."""
        shared = getattr(self.app, "shared", None)
        lease = snapshot.lease
        if lease is not None and not lease.expired(time.time()):
            mine = shared is not None and lease.owner == shared.user
            name = "degraded" if not mine else "healthy"
            self.extra["lease"] = Text(f"⚑ {lease.describe()}", style=style(self.app, name))
        else:
            self.extra.pop("lease", None)
        watching = shared.presence_text() if shared is not None else ""
        if watching:
            self.extra["presence"] = Text(watching)
        else:
            self.extra.pop("presence", None)
        # A recipe without [gate] judges nothing here: no "pending" that never ends.
        judged = self.engine.recipe.gate is not None or snapshot.gate is not None
        gate = gate_segment(snapshot) if judged else None
        if gate is not None:
            text, name = gate
            self.extra["gate"] = Text(text, style=style(self.app, name, bold=name == "down"))
        else:
            self.extra.pop("gate", None)
        if snapshot.problem:
            self.extra["problem"] = Text(f"⚠ {snapshot.problem}", style=style(self.app, "down"))
        else:
            self.extra.pop("problem", None)
        if self.is_mounted:
            self.tick()

    def tick(self) -> None:
        engine = self.engine
        key = (
            engine.version,
            engine.connected,
            engine.connection_detail,
            tuple((k, v.plain) for k, v in self.extra.items()),
            int(self._clock() // 60),
            self.size.width,
        )
        if key == self._key and self._drawn:
            return  # nothing it shows changed (the clock shows minutes)
        self._key = key
        env = engine.recipe.environment
        statuses = engine.statuses.values()
        healthy = sum(1 for s in statuses if s.health is Health.HEALTHY)
        unchecked = sum(1 for s in statuses if s.health is Health.UNCHECKED)
        total = len(engine.statuses)
        text = Text()
        text.append(f" {env.name} ", style="bold reverse")
        text.append(f" {env.target} ")
        if engine.connected:
            text.append("● connected", style=style(self.app, "healthy"))
        else:
            text.append(f"✖ {engine.connection_detail}", style=style(self.app, "down", bold=True))
        text.append("  ")
        up = healthy + unchecked
        summary_style = "healthy" if up == total else ("down" if engine.down() else "degraded")
        text.append(f"{healthy}/{total} healthy", style=style(self.app, summary_style))
        if unchecked:
            text.append(f" · {unchecked} without a check", style=style(self.app, "unknown"))
        for segment in self.extra.values():
            text.append("  ")
            text.append_text(segment)
        # Minutes, not seconds: a ticking seconds clock alone cost a full screen update
        # (and its bytes over SSH) every second; log lines carry their own seconds.
        clock = time.strftime("%H:%M", time.localtime(self._clock()))
        width = self.size.width - 2 if self.size.width else 80
        if text.cell_len + len(clock) + 1 > width:
            text.truncate(max(10, width - len(clock) - 2), overflow="ellipsis")
        pad = max(1, width - text.cell_len - len(clock))
        text.append(" " * pad)
        text.append(clock, style="dim")
        plain = text.plain
        if plain != self._drawn:
            self._drawn = plain
            self.update(text, layout=False)  # one line, always: no layout pass per tick
