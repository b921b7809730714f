"""Mutating actions from the cockpit: guard, confirm, run in the background, report.

Every mutating key goes through :meth:`ActionController.guard` first, so
read-only mode, leases and busy services refuse the same way for every key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stagedeck.actions import ActionBusy, PlanOutcome, bring_up, redeploy, redeploy_all
from stagedeck.engine import Engine
from stagedeck.policy import ReadOnly
from stagedeck.seeding import ReseedOutcome, reseed, seed_order
from stagedeck.tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from textual.app import App


class ActionController:
    def __init__(self, app: App[Any], engine: Engine, read_only: ReadOnly) -> None:
        self.app = app
        self.engine = engine
        self.read_only = read_only
        self.guards: list[Callable[[str, list[str]], str | None]] = []
        """Extra checks (leases): return a refusal message, or None to allow."""

    def guard(self, action: str, services: list[str]) -> bool:
        """True when the action may go ahead; otherwise tell the user why not."""
        if self.read_only:
            self.app.notify(self.read_only.refusal(action), severity="warning", markup=False)
            return False
        busy = [f"{s} ({self.engine.claims[s]})" for s in services if s in self.engine.claims]
        if busy:
            self.app.notify(
                f"{action} refused: already in progress on {', '.join(busy)}",
                severity="warning",
                markup=False,
            )
            return False
        for check in self.guards:
            refusal = check(action, services)
            if refusal:
                self.app.notify(refusal, severity="warning", markup=False)
                return False
        return True

    def _confirm_then(
        self,
        screen: ConfirmScreen,
        run: Callable[[bool], Awaitable[PlanOutcome | ReseedOutcome]],
    ) -> None:
        def answered(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                self.app.run_worker(
                    self._report(run(result[1])), group="actions", exit_on_error=False
                )

        self.app.push_screen(screen, answered)

    async def _report(self, pending: Awaitable[PlanOutcome | ReseedOutcome]) -> None:
        try:
            outcome = await pending
        except ActionBusy as exc:
            self.app.notify(str(exc), severity="warning", markup=False)
            return
        if not outcome.ok:
            # The first line was already announced by the engine; the details matter here.
            self.app.notify(outcome.describe(), severity="error", timeout=15, markup=False)

    # ---------------------------------------------------------------- the actions

    def redeploy(self, name: str | None) -> None:
        if not name:
            self.app.notify("select a service first", severity="warning")
            return
        dependents = self.engine.graph.dependents(name)
        if not self.guard("redeploy", [name]):
            return
        svc = self.engine.service(name)
        how = {
            "local": "its process is stopped (SIGTERM, then SIGKILL) and started again",
            "docker": "its container is " + ("recreated" if svc.recreate else "restarted"),
            "kubernetes": "its Deployment gets a rollout restart",
        }.get(self.engine.recipe.environment.target, "it is restarted")
        body = f"{how}; stagedeck then waits until it is healthy (up to {svc.ready_timeout:g}s)."
        option = (
            f"also restart its dependents afterwards: {', '.join(dependents)}"
            if dependents
            else None
        )
        self._confirm_then(
            ConfirmScreen(f"Redeploy {name}?", body, confirm="Redeploy", option=option),
            lambda with_deps: redeploy(self.engine, name, with_dependents=with_deps),
        )

    def redeploy_all(self) -> None:
        names = self.engine.graph.nodes
        if not self.guard("redeploy all", names):
            return
        layers = " → ".join(", ".join(layer) for layer in self.engine.graph.layers())
        local_first = self.engine.target.manages_processes and all(
            s.pid is None for s in self.engine.statuses.values()
        )
        verb = "Start" if local_first else "Restart"
        body = (
            f"{verb} every service, layer by layer, each layer only after the previous one "
            f"is healthy:\n  {layers}\n"
            "The first failure stops the plan; later layers are left alone."
        )
        plan = bring_up if local_first else redeploy_all
        self._confirm_then(
            ConfirmScreen(f"{verb} all {len(names)} services?", body, confirm=verb),
            lambda _: plan(self.engine),
        )

    def reseed(self) -> None:
        seeds = dict(self.engine.recipe.seeds)
        if not seeds:
            self.app.notify("this recipe has no seeds", severity="warning")
            return
        services = sorted({s.service for s in seeds.values()})
        if not self.guard("reseed", services):
            return
        order = [n for layer in seed_order(seeds) for n in layer]
        lines = "\n".join(f"  {n} → {seeds[n].service}" for n in order)
        body = f"Test data in these services is overwritten, in this order:\n{lines}"
        self._confirm_then(
            ConfirmScreen("Reseed test data?", body, confirm="Reseed"),
            lambda _: reseed(self.engine),
        )
