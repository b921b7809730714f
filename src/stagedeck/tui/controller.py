"""Mutating actions from the cockpit: guard, confirm, run in the background, report.

Every mutating key goes through :meth:`ActionController.guard` first, so
read-only mode, leases and busy services refuse the same way for every key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stagedeck.engine.actions import ActionBusy, PlanOutcome, bring_up, redeploy, redeploy_all
from stagedeck.engine.engine import Engine
from stagedeck.engine.seeding import ReseedOutcome, reseed, seed_order
from stagedeck.policy import ReadOnly
from stagedeck.store import Annotation, LeaseHeld, StoreError
from stagedeck.store.shared import FailureView, SharedState
from stagedeck.suites.runner import SuiteRunner, SuiteState
from stagedeck.tui.screens.confirm import ConfirmScreen
from stagedeck.tui.screens.forms import AnnotateScreen, AnnotationRequest, LeaseRequest, LeaseScreen

if TYPE_CHECKING:
    from textual.app import App


class ActionController:
    def __init__(
        self,
        app: App[Any],
        engine: Engine,
        read_only: ReadOnly,
        shared: SharedState | None = None,
        *,
        suites: SuiteRunner | None = None,
        user: str = "",
    ) -> None:
        self.app = app
        self.engine = engine
        self.read_only = read_only
        self.shared = shared
        self.suites = suites or SuiteRunner(engine.recipe)
        self.user = user

    def refusal(self, action: str, services: list[str]) -> str | None:
        """Why ``action`` may not run at all (read-only, busy here or elsewhere), or None."""
        if self.read_only:
            return self.read_only.refusal(action)
        busy = [f"{s} ({self.engine.claims[s]})" for s in services if s in self.engine.claims]
        if busy:
            return f"{action} refused: already in progress on {', '.join(busy)}"
        if self.shared is not None:
            elsewhere = self.shared.busy_elsewhere(services)
            if elsewhere:
                return f"{action} refused: {elsewhere}"
        return None

    def guard(self, action: str, services: list[str]) -> bool:
        refusal = self.refusal(action, services)
        if refusal:
            self.app.notify(refusal, severity="warning", markup=False)
            return False
        return True

    def _go(
        self,
        action: str,
        services: list[str],
        screen: ConfirmScreen,
        run: Callable[[bool], Awaitable[PlanOutcome | ReseedOutcome]],
    ) -> None:
        """Guard, then (if leased by someone else) ask to force, then confirm, then run."""
        if not self.guard(action, services):
            return
        lease = self.shared.lease_refusal(action) if self.shared is not None else None

        def confirmed(forced: bool) -> Callable[[tuple[bool, bool] | None], None]:
            def answered(result: tuple[bool, bool] | None) -> None:
                if result and result[0]:
                    self.app.run_worker(
                        self._execute(action, services, run(result[1]), forced),
                        group="actions",
                        exit_on_error=False,
                    )

            return answered

        if lease is None:
            self.app.push_screen(screen, confirmed(False))
            return

        def force_answer(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                self.app.push_screen(screen, confirmed(True))

        self.app.push_screen(
            ConfirmScreen(
                lease,
                "Act anyway? Forcing past someone's lease is recorded in the audit log "
                "with your name, for everyone sharing this environment to see.",
                confirm="Force",
            ),
            force_answer,
        )

    async def _execute(
        self,
        action: str,
        services: list[str],
        pending: Awaitable[PlanOutcome | ReseedOutcome],
        forced: bool,
    ) -> None:
        shared = self.shared
        audit_id = (
            await shared.audit_start(action, services, {}, forced) if shared is not None else None
        )
        try:
            outcome = await pending
        except ActionBusy as exc:
            self.app.notify(str(exc), severity="warning", markup=False)
            if shared is not None:
                await shared.audit_finish(audit_id, "refused", {"detail": str(exc)})
            return
        except Exception as exc:
            if shared is not None:
                await shared.audit_finish(audit_id, "error", {"detail": str(exc)})
            raise
        if shared is not None:
            await shared.audit_finish(
                audit_id,
                "ok" if outcome.ok else "failed",
                {
                    "seconds": round(outcome.finished - outcome.started, 2),
                    "detail": outcome.describe(),
                },
            )
        if not outcome.ok:
            # The first line was already announced by the engine; the details matter here.
            self.app.notify(outcome.describe(), severity="error", timeout=15, markup=False)

    # ---------------------------------------------------------------- the actions

    def redeploy(self, name: str | None) -> None:
        if not name:
            self.app.notify("select a service first", severity="warning")
            return
        dependents = self.engine.graph.dependents(name)
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
        self._go(
            "redeploy",
            [name],
            ConfirmScreen(f"Redeploy {name}?", body, confirm="Redeploy", option=option),
            lambda with_deps: redeploy(self.engine, name, with_dependents=with_deps),
        )

    def redeploy_all(self) -> None:
        names = self.engine.graph.nodes
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
        self._go(
            "redeploy all",
            names,
            ConfirmScreen(f"{verb} all {len(names)} services?", body, confirm=verb),
            lambda _: plan(self.engine),
        )

    def reseed(self) -> None:
        seeds = dict(self.engine.recipe.seeds)
        if not seeds:
            self.app.notify("this recipe has no seeds", severity="warning")
            return
        services = sorted({s.service for s in seeds.values()})
        order = [n for layer in seed_order(seeds) for n in layer]
        lines = "\n".join(f"  {n} → {seeds[n].service}" for n in order)
        body = f"Test data in these services is overwritten, in this order:\n{lines}"
        self._go(
            "reseed",
            services,
            ConfirmScreen("Reseed test data?", body, confirm="Reseed"),
            lambda _: reseed(self.engine),
        )

    def restart_changed(self, names: list[str]) -> None:
        """After a recipe reload: services whose command changed restart only if confirmed."""
        body = (
            "The recipe now runs these differently (command, env or working directory). "
            "They keep running the old way until restarted:\n  " + ", ".join(names)
        )

        async def restart_all(_: bool) -> PlanOutcome:
            outcome = PlanOutcome("restart changed")
            for name in names:
                step = await redeploy(self.engine, name)
                outcome.steps.extend(step.steps)
                if not step.ok:
                    break
            outcome.finished = self.engine.clock()
            return outcome

        self._go(
            "redeploy",
            names,
            ConfirmScreen(f"Restart {', '.join(names)}?", body, confirm="Restart"),
            restart_all,
        )

    # ---------------------------------------------------------------- leases

    def lease(self) -> None:
        shared = self.shared
        if shared is None or shared.store is None:
            self.app.notify("leases need the shared database (--db)", severity="warning")
            return
        if self.read_only:
            self.app.notify(self.read_only.refusal("lease"), severity="warning", markup=False)
            return
        env = self.engine.recipe.name
        lease = shared.snapshot.lease
        now = shared.clock()
        held = lease is not None and not lease.expired(now)
        mine = held and lease is not None and lease.owner == shared.user
        current = lease.describe(now) if held and lease is not None else ""

        def answered(request: LeaseRequest | None) -> None:
            if request is None:
                return
            if request.action == "release":
                self.app.run_worker(self._release(), group="lease", exit_on_error=False)
                return
            if held and not mine:

                def force(result: tuple[bool, bool] | None) -> None:
                    if result and result[0]:
                        self.app.run_worker(
                            self._acquire(request, force=True), group="lease", exit_on_error=False
                        )

                self.app.push_screen(
                    ConfirmScreen(
                        current,
                        "Take the lease from them? Forcing is recorded in the audit log.",
                        confirm="Force",
                    ),
                    force,
                )
                return
            self.app.run_worker(
                self._acquire(request, force=False), group="lease", exit_on_error=False
            )

        self.app.push_screen(LeaseScreen(env, current, bool(mine)), answered)

    async def _acquire(self, request: LeaseRequest, *, force: bool) -> None:
        assert self.shared is not None
        try:
            lease = await self.shared.acquire_lease(request.reason, request.ttl, force=force)
        except LeaseHeld as exc:
            self.app.notify(exc.lease.describe(), severity="warning", markup=False)
            return
        except StoreError as exc:  # never pretend: a lease that was not written is no lease
            self.app.notify(f"lease not taken: {exc}", severity="error", timeout=12, markup=False)
            return
        self.app.notify(lease.describe(), timeout=5, markup=False)

    async def _release(self) -> None:
        assert self.shared is not None
        try:
            released = await self.shared.release_lease()
        except StoreError as exc:
            self.app.notify(f"lease not released: {exc}", severity="error", markup=False)
            return
        self.app.notify("lease released" if released else "you did not hold the lease")

    # ---------------------------------------------------------------- suites and annotations

    def run_suites(self, names: list[str]) -> None:
        exclusive = [n for n in names if self.engine.recipe.suites[n].exclusive]
        if exclusive:
            if self.read_only:
                self.app.notify(self.read_only.refusal("exclusive suite"), severity="warning")
                return
            refusal = self.shared.lease_refusal(", ".join(exclusive)) if self.shared else None
            if refusal:
                self.app.notify(refusal, severity="warning", markup=False)
                return
        running = [n for n in names if n in self._suite_tasks]
        if running:
            self.app.notify(f"already running: {', '.join(running)}", severity="warning")
            return
        self.app.run_worker(self._run_suites(names), group="suites", exit_on_error=False)

    @property
    def _suite_tasks(self) -> set[str]:
        return {n for n, p in self.suites.progress.items() if not p.state.finished}

    async def _run_suites(self, names: list[str]) -> None:
        from stagedeck.suites.recording import run_and_record

        shared = self.shared
        store = shared.store if shared is not None else None  # not writable: spooled, and said
        record = await run_and_record(self.engine, self.suites, names, store, self.user)
        if shared is not None:
            await shared.refresh(force=True)
        failed = [p for p in record.suites if p.state is not SuiteState.PASSED]
        summary = ", ".join(f"{p.suite} {p.state.value}" for p in record.suites)
        self.app.notify(summary, severity="error" if failed else "information", timeout=8)
        if store is not None and not record.saved:
            self.app.notify(record.storage_note(), severity="error", timeout=20, markup=False)

    def annotate(self, view: FailureView, edit: Annotation | None = None) -> None:
        shared = self.shared
        if shared is None or not shared.writable:
            problem = shared.snapshot.problem if shared is not None else "no shared database"
            self.app.notify(problem or "annotations are disabled", severity="error", markup=False)
            return
        result = view.failure.result

        def answered(request: AnnotationRequest | None) -> None:
            if request is not None:
                self.app.run_worker(
                    self._save_annotation(view, request, edit),
                    group="annotate",
                    exit_on_error=False,
                )

        self.app.push_screen(
            AnnotateScreen(
                result.test_id,
                result.message,
                tag=edit.tag if edit else "",
                note=edit.note if edit else "",
                link=(edit.link or "") if edit else "",
            ),
            answered,
        )

    async def _save_annotation(
        self, view: FailureView, request: AnnotationRequest, edit: Annotation | None
    ) -> None:
        shared = self.shared
        assert shared is not None and shared.store is not None
        store = shared.store
        result = view.failure.result
        try:
            if edit is not None:
                await asyncio.to_thread(
                    store.edit_annotation,
                    edit.id,
                    shared.user,
                    tag=request.tag,
                    note=request.note,
                    link=request.link,
                )
            else:
                await asyncio.to_thread(
                    store.add_annotation,
                    result.signature or result.test_id,
                    result.test_id,
                    shared.env,
                    shared.user,
                    request.tag,
                    request.note,
                    request.link,
                )
        except (StoreError, ValueError) as exc:
            kept = None
            if isinstance(exc, StoreError) and edit is None:
                from stagedeck.store.spool import spool_annotation

                kept = await asyncio.to_thread(
                    spool_annotation,
                    store.path,
                    signature=result.signature or result.test_id,
                    test_id=result.test_id,
                    environment=shared.env,
                    author=shared.user,
                    tag=request.tag,
                    note=request.note,
                    link=request.link,
                )
            where = f"kept in {kept}, saved when the database is writable" if kept else ""
            # Never lost silently: spooled, and the text is in the notification too.
            self.app.notify(
                f"annotation not saved ({exc}); {where or 'your note'}: {request.note}",
                severity="error",
                timeout=20,
                markup=False,
            )
            return
        await shared.refresh(force=True)
        self.app.notify("annotation saved", timeout=3)

    def delete_annotation(self, note: Annotation) -> None:
        shared = self.shared
        if shared is None or shared.store is None or not shared.writable:
            self.app.notify("annotations are disabled", severity="error")
            return
        store = shared.store

        async def delete() -> None:
            try:
                await asyncio.to_thread(store.delete_annotation, note.id, shared.user)
            except StoreError as exc:
                self.app.notify(str(exc), severity="error", markup=False)
                return
            await shared.refresh(force=True)
            self.app.notify(f"annotation #{note.id} deleted", timeout=3)

        def answered(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                self.app.run_worker(delete(), group="annotate", exit_on_error=False)

        self.app.push_screen(
            ConfirmScreen(f"Delete your note #{note.id}?", note.note, confirm="Delete"), answered
        )
