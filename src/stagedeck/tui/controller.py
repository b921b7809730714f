"""Mutating actions from the cockpit: dialogs and notifications around the core's rules.

The rules (read-only, busy, someone else's lease, forced overrides, audit) are
:mod:`stagedeck.operations`'. This controller only turns a key into a request,
shows the core's refusal as a notification, asks what the core says must be
asked (force past a lease, then the confirmation naming what is touched), and
hands the answer back to :meth:`Operations.perform` in a worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stagedeck.engine.engine import Engine
from stagedeck.operations import Decision, Operations, ReadOnly, Refused, Request, requests
from stagedeck.store import Annotation, Lease, StoreError
from stagedeck.store.shared import FailureView, SharedState
from stagedeck.suites.runner import SuiteRunner, SuiteState
from stagedeck.targets.base import TargetError
from stagedeck.tui.screens.confirm import ConfirmScreen
from stagedeck.tui.screens.forms import AnnotateScreen, AnnotationRequest, LeaseRequest, LeaseScreen

if TYPE_CHECKING:
    from textual.app import App

Perform = Callable[[Request, Decision], Awaitable[None]]
"""Carries a confirmed request out in place of ``Operations.perform``."""

FORCE_TEXT = (
    "Act anyway? Forcing past someone's lease is recorded in the audit log "
    "with your name, for everyone sharing this environment to see."
)


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
        self.scenario_running = ""
        """The scenario this cockpit is rehearsing now ('' when none): one at a time."""
        self.last_scenario: dict[str, Any] | None = None
        """The result of the last scenario run from this cockpit (the gate view shows it)."""
        # Attached to an environment process, its actions are performed (and audited) there.
        kind = Operations
        if getattr(engine, "remote", False):
            from stagedeck.envproc.remote import RemoteOperations

            kind = RemoteOperations
        self.ops = kind(
            engine,
            user=shared.user if shared is not None else user,
            read_only=read_only,
            store=(lambda: shared.store) if shared is not None else None,
            session=shared.session if shared is not None else None,
            after_write=self._refresh_shared,
        )

    async def _refresh_shared(self) -> None:
        if self.shared is not None:
            await self.shared.refresh(force=True)

    def _warn(self, text: str) -> None:
        self.app.notify(text, severity="warning", markup=False)

    # ---------------------------------------------------------------- the one path

    def go(
        self,
        build: Callable[[Operations], Request],
        done: Callable[[Any], None] | None = None,
        failed: Callable[[Exception], None] | None = None,
        *,
        perform: Perform | None = None,
    ) -> None:
        """Build, refuse at once what needs no database, else review and ask in a worker.

        ``perform`` carries the confirmed request out instead of :meth:`Operations.perform`
        (a scenario performs its fault itself, then runs suites under it).
        """
        try:
            request = build(self.ops)
        except ValueError as exc:
            self._warn(str(exc))
            return
        refused = self.ops.check_now(request)
        if refused is not None:
            self._warn(str(refused))
            return
        self.app.run_worker(
            self._review(request, done, failed, perform),
            name=describe_action(request),
            group="actions",
            exit_on_error=False,
        )

    async def _review(
        self,
        request: Request,
        done: Callable[[Any], None] | None,
        failed: Callable[[Exception], None] | None = None,
        perform: Perform | None = None,
    ) -> None:
        review = await self.ops.review(request)
        if review.refusal:
            self._warn(review.refusal)
            return
        if not review.needs_force:
            self._confirm(request, False, done, failed, perform)
            return

        def forced(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                self._confirm(request, True, done, failed, perform)

        self.app.push_screen(
            ConfirmScreen(review.lease_refusal, FORCE_TEXT, confirm="Force"), forced
        )

    def _confirm(
        self,
        request: Request,
        forced: bool,
        done: Callable[[Any], None] | None,
        failed: Callable[[Exception], None] | None,
        perform: Perform | None = None,
    ) -> None:
        def answered(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                decision = Decision(confirmed=True, forced=forced, option=result[1])
                work = (
                    perform(request, decision)
                    if perform is not None
                    else self._perform(request, decision, done, failed)
                )
                self.app.run_worker(
                    work, name=describe_action(request), group="actions", exit_on_error=False
                )

        if not request.confirm:
            answered((True, False))
            return
        self.app.push_screen(
            ConfirmScreen(
                request.title, request.touches, confirm=request.verb, option=request.option
            ),
            answered,
        )

    async def _perform(
        self,
        request: Request,
        decision: Decision,
        done: Callable[[Any], None] | None,
        failed: Callable[[Exception], None] | None = None,
    ) -> None:
        try:
            result = await self.ops.perform(request, decision)
        except Refused as exc:
            self._warn(str(exc))
            return
        except (StoreError, ValueError, TargetError) as exc:
            if failed is not None:
                failed(exc)
            else:
                self.app.notify(f"{request.action} failed: {exc}", severity="error", markup=False)
            return
        await self._refresh_shared()
        if result.audit_problem:
            self.app.notify(
                f"not in the audit log: {result.audit_problem}", severity="error", markup=False
            )
        if done is not None:
            done(result.value)
        elif not result.ok:
            # The first line was already announced by the engine; the details matter here.
            self.app.notify(result.detail, severity="error", timeout=15, markup=False)

    # ---------------------------------------------------------------- the actions

    def redeploy(self, name: str | None) -> None:
        self.go(lambda ops: requests.redeploy(ops, name))

    def redeploy_all(self) -> None:
        self.go(requests.redeploy_all)

    def reseed(self) -> None:
        self.go(requests.reseed)

    def restart_changed(self, names: list[str]) -> None:
        """After a recipe reload: services whose command changed restart only if confirmed."""
        self.go(lambda ops: requests.restart_changed(ops, names))

    # ---------------------------------------------------------------- faults

    def fault(self, name: str | None) -> None:
        """Choose a fault for ``name`` (or lift this cockpit's faults), then the usual path."""
        from stagedeck.faults.apply import kinds_for
        from stagedeck.tui.screens.fault import FaultChoice, FaultScreen

        if not name:
            self._warn("select a service first")
            return
        kinds = kinds_for(self.engine, name)
        if not kinds:
            self._warn(f"no fault is possible on {name} ({self.engine.target.kind} target)")
            return
        # Attached to an environment process: its faults (anyone's), lifted there.
        faults = getattr(self.ops, "remote_faults", None) or self.ops.faults
        active = [h.describe() for h in faults.active.values()]

        def answered(choice: FaultChoice | None) -> None:
            if choice is None:
                return
            if choice.kind == "lift":
                self.app.run_worker(
                    faults.lift_all("lifted early"),
                    name="lift faults",
                    group="actions",
                    exit_on_error=False,
                )
                return
            self.go(
                lambda ops: requests.fault(ops, name, choice.kind, choice.duration),
                lambda handle: self.app.notify(
                    f"{handle.spec.label()}: {handle.applied.detail}", timeout=5, markup=False
                ),
            )

        self.app.push_screen(FaultScreen(name, kinds, active), answered)

    # ---------------------------------------------------------------- leases

    def lease(self) -> None:
        shared = self.shared
        if shared is None or shared.store is None:
            self._warn("leases need the shared database (--db)")
            return
        if self.read_only:
            self._warn(self.read_only.refusal("lease"))
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
                self.go(requests.release_lease, self._released)
                return
            ttl = request.ttl

            def acquired(lease: Lease) -> None:
                shared.lease_ttl = ttl  # the heartbeat renews it for as long as asked
                taken = f" (taken from {lease.taken_from})" if lease.taken_from else ""
                self.app.notify(lease.describe() + taken, timeout=5, markup=False)

            self.go(lambda ops: requests.acquire_lease(ops, request.reason, ttl), acquired)

        self.app.push_screen(LeaseScreen(env, current, bool(mine)), answered)

    def _released(self, released: bool) -> None:
        self.app.notify("lease released" if released else "you did not hold the lease")

    # ---------------------------------------------------------------- suites and annotations

    def run_suites(self, names: list[str]) -> None:
        running = [n for n in names if n in self._suite_tasks]
        if running:
            self._warn(f"already running: {', '.join(running)}")
            return
        # The run notifies its own summary when it ends (done: nothing more to say).
        self.go(
            lambda ops: requests.run_suites(ops, names, lambda: self._run_suites(names)),
            lambda _: None,
        )

    @property
    def _suite_tasks(self) -> set[str]:
        return {n for n, p in self.suites.progress.items() if not p.state.finished}

    async def _run_suites(self, names: list[str]) -> Any:
        from stagedeck.suites.recording import run_and_record

        shared = self.shared
        store = shared.store if shared is not None else None  # not writable: spooled, and said
        record = await run_and_record(self.engine, self.suites, names, store, self.user)
        if (
            store is not None
            and store.writable
            and record.run_id is not None
            and self.engine.recipe.gate
        ):
            await self._judge(store, record.run_id)
        if shared is not None:
            await shared.refresh(force=True)
        failed = [p for p in record.suites if p.state is not SuiteState.PASSED]
        summary = ", ".join(f"{p.suite} {p.state.value}" for p in record.suites)
        self.app.notify(summary, severity="error" if failed else "information", timeout=8)
        if store is not None and not record.saved:
            self.app.notify(record.storage_note(), severity="error", timeout=20, markup=False)
        return record

    async def _judge(self, store: Any, run_id: int) -> None:
        """The recipe's gate on a run just recorded: stored, so every cockpit shows it."""
        from stagedeck.gate.gather import GateError, judge

        try:
            verdict = await asyncio.to_thread(
                judge, store, self.engine.recipe, run_id, user=self.user
            )
        except (GateError, StoreError) as exc:
            self.app.notify(f"gate not evaluated: {exc}", severity="error", markup=False)
            return
        self.app.notify(
            verdict.line(), severity="information" if verdict.go else "error", markup=False
        )

    def judge_latest(self) -> None:
        """Evaluate the gate on the latest run now (the gate view's refresh key)."""
        shared = self.shared
        run_id = shared.snapshot.last_run_id if shared is not None else None
        if shared is None or shared.store is None or run_id is None:
            self._warn("no run recorded yet: run the suites first")
            return
        store = shared.store

        async def judge() -> None:
            await self._judge(store, run_id)
            await shared.refresh(force=True)

        self.app.run_worker(judge(), group="gate", exit_on_error=False)

    # ---------------------------------------------------------------- scenarios

    def scenario(self, name: str) -> None:
        """Rehearse a recipe scenario: its fault goes the usual path (confirm, audit)."""
        from stagedeck.gate.scenario import scenario_request

        scenario = self.engine.recipe.scenarios.get(name)
        if scenario is None:
            self._warn(f"no scenario '{name}' in the recipe")
            return
        if self.scenario_running:
            self._warn(f"scenario {self.scenario_running} is still running")
            return
        self.go(
            lambda ops: scenario_request(ops, scenario),
            perform=lambda request, decision: self._run_scenario(scenario, request, decision),
        )

    async def _run_scenario(self, scenario: Any, request: Request, decision: Decision) -> None:
        from stagedeck.gate.report import scenario_lines
        from stagedeck.gate.scenario import run_scenario

        shared = self.shared
        store = shared.store if shared is not None and shared.writable else None

        def step(text: str) -> None:
            self.app.notify(f"scenario {scenario.name}: {text}", timeout=4, markup=False)

        self.scenario_running = scenario.name
        try:
            result = await run_scenario(
                self.ops, scenario, request, decision, self.suites, store, self.user, on_step=step
            )
        finally:
            self.scenario_running = ""
        if shared is not None:
            await shared.refresh(force=True)
        if result.problem:
            self._warn(f"scenario {scenario.name}: {result.problem}")
            return
        self.last_scenario = result.to_dict()
        self.app.notify(
            "\n".join(scenario_lines(self.last_scenario)),
            severity="information" if result.ok else "error",
            timeout=20,
            markup=False,
        )

    def annotate(self, view: FailureView, edit: Annotation | None = None) -> None:
        shared = self.shared
        if shared is None or not shared.writable:
            problem = shared.snapshot.problem if shared is not None else "no shared database"
            self.app.notify(problem or "annotations are disabled", severity="error", markup=False)
            return
        result = view.failure.result

        def answered(request: AnnotationRequest | None) -> None:
            if request is None:
                return

            def not_saved(exc: Exception) -> None:
                self.app.run_worker(keep(exc), group="annotate", exit_on_error=False)

            async def keep(exc: Exception) -> None:
                # Never lost silently: a note the store refused (read-only, full disk) is
                # spooled and saved when the file is writable; the text is shown too.
                store = shared.store
                kept = None
                if isinstance(exc, StoreError) and edit is None and store is not None:
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
                self.app.notify(
                    f"annotation not saved ({exc}); {where or 'your note'}: {request.note}",
                    severity="error",
                    timeout=20,
                    markup=False,
                )

            self.go(
                lambda ops: requests.annotate(
                    ops,
                    result.signature or result.test_id,
                    result.test_id,
                    request.tag,
                    request.note,
                    request.link,
                    edit_id=edit.id if edit is not None else None,
                ),
                lambda _: self.app.notify("annotation saved", timeout=3),
                not_saved,
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

    def delete_annotation(self, note: Annotation) -> None:
        self.go(
            lambda ops: requests.delete_annotation(ops, note.id, note.note),
            lambda _: self.app.notify(f"annotation #{note.id} deleted", timeout=3),
        )


def describe_action(request: Request) -> str:
    """How a running action is named to the user: 'redeploy orders, payments'."""
    return " ".join(filter(None, (request.action, ", ".join(request.services))))
