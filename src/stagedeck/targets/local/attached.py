"""Watch a local environment that another process runs; never start or stop it.

Local services belong to the cockpit that started them (it holds their
process groups and their output). A second cockpit on the same recipe, or a
headless ``stagedeck reseed``, attaches instead: it probes the services,
runs seeds and exec steps locally, and refuses to restart what it does not own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stagedeck.recipe.model import Recipe, Service
from stagedeck.targets.base import ExecResult, Target, TargetError, TargetSink
from stagedeck.targets.local.target import LocalTarget


class AttachedTarget(Target):
    kind = "local (attached)"
    manages_processes = False

    def __init__(self, recipe: Recipe, sink: TargetSink) -> None:
        super().__init__(recipe, sink)
        self._runner = LocalTarget(recipe, sink)

    async def open(self) -> None:
        self.sink.connection(True, "attached: watching services another process runs")

    def _refuse(self, service: Service, what: str) -> TargetError:
        return TargetError(
            f"cannot {what} {service.name}: its process belongs to the cockpit that started it"
        )

    async def start(self, service: Service) -> None:
        raise self._refuse(service, "start")

    async def stop(self, service: Service) -> None:
        raise self._refuse(service, "stop")

    def describe_redeploy(self, service: Service) -> str:
        return "nothing: its process belongs to the cockpit that started it"

    async def redeploy(self, service: Service) -> None:
        raise self._refuse(service, "restart")

    async def exec(
        self,
        service: Service,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        *,
        log_output: bool = True,
    ) -> ExecResult:
        return await self._runner.exec(service, argv, env, timeout, log_output=log_output)

    async def close(self, *, stop_services: bool = True) -> None:
        await self._runner.close(stop_services=False)
