"""What an attached cockpit adds: the environment process going away, coming back, stopping.

Kept out of ``app.py``: the cockpit is the same for a local engine and for a
mirror of an environment process, except for these three moments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stagedeck.tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from stagedeck.envproc.mirror import MirrorEngine
    from stagedeck.tui.app import StagedeckApp

BANNER = "envproc"


def _mirror(app: StagedeckApp) -> MirrorEngine | None:
    from stagedeck.envproc.mirror import MirrorEngine

    engine = app.engine
    return engine if isinstance(engine, MirrorEngine) else None


def install(app: StagedeckApp) -> None:
    """Say at once when the environment process goes away, and how to bring it back."""
    engine = _mirror(app)
    if engine is None:
        return

    def gone(why: str) -> None:
        app.banners[BANNER] = (
            f"⚠ {why}. What you see is its last known state. "
            "Press ctrl+r to start the environment process again, q to leave."
        )

    engine.on_gone = gone


def restart_environment(app: StagedeckApp) -> None:
    engine = _mirror(app)
    if engine is None:
        app.notify("this cockpit runs its environment itself", severity="warning")
        return
    if not engine.gone:
        app.notify(f"attached to {engine.describe_source}: nothing to restart")
        return

    async def restart() -> None:
        from stagedeck.envproc.client import NoAccess, StartFailed, ensure

        ephemeral = engine.hello.get("idle_grace") is not None
        recipe = engine.recipe

        async def connector() -> Any:
            return await ensure(recipe, user=app.user, ephemeral=ephemeral)

        app.banners[BANNER] = "⟳ starting the environment process again…"
        try:
            await engine.reattach(connector)
        except (NoAccess, StartFailed, OSError) as exc:
            app.banners[BANNER] = f"⚠ the environment process did not start: {exc}"
            return
        if engine.gone:  # reattach reported it (and the banner says why)
            return
        app.banners.pop(BANNER, None)
        app.notify(f"attached to {engine.describe_source}", timeout=5)

    app.run_worker(restart(), group="envproc", exclusive=True, exit_on_error=False)


def stop_environment(app: StagedeckApp) -> None:
    """Stop the environment for everyone: confirmed, naming who else is watching."""
    engine = _mirror(app)
    if engine is None:
        app.notify("q stops this cockpit's own services", severity="warning")
        return
    if engine.gone:
        app.notify("the environment process is gone already", severity="warning")
        return
    refusal = app.read_only.refusal("down") if app.read_only else None
    if refusal:
        app.notify(refusal, severity="warning", markup=False)
        return
    others = [name for name in engine.watching() if name != app.user]
    who = (
        f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} watching it too: "
        "their cockpits lose it as well."
        if others
        else "Nobody else is watching it."
    )
    body = (
        f"Stops {engine.describe_source} and every local service it runs. {who}\n"
        "Recorded in the audit log with your name."
    )

    def answered(result: tuple[bool, bool] | None) -> None:
        if result and result[0]:
            app.run_worker(_down(app, engine), group="envproc", exit_on_error=False)

    app.push_screen(
        ConfirmScreen(f"Stop the environment {engine.recipe.name}?", body, confirm="Stop"),
        answered,
    )


async def _down(app: StagedeckApp, engine: MirrorEngine) -> None:
    outcome = await engine.request("down", {})
    if not outcome.ok:
        app.notify(outcome.describe(), severity="warning", markup=False)
