"""The ``[gate]`` and ``[scenarios.NAME]`` sections: what a GO needs, and failures rehearsed.

A gate is the team's written answer to "may this build move on?"; a scenario is
one of the failure cases an integration plan lists beside the happy paths (a
dependency frozen, slowed or gone, and what the rest must do meanwhile). Both
are checked as strictly as the rest of the recipe: unknown keys get a "did you
mean", wrong values name file and line, and references (suites, services, fault
kinds) must exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from stagedeck.recipe.model import Service, Suite

WAIVABLE_TAGS = ("known", "flaky")
"""Annotation tags a gate may accept as a waiver; 'bug' or 'data' never waive a failure."""

LAST_GO = "last-go"

FAULT_KINDS = ("pause", "kill", "stop", "delete-pod", "scale-zero", "latency", "errors")
"""``faults.model.FaultKind``'s values (the recipe sits below faults; a test keeps them equal)."""


@dataclass(frozen=True)
class Gate:
    """What a run must show to be GO. Every criterion can be turned off on its own."""

    suites: tuple[str, ...] = ()
    """Suites that must have run and passed ((): every suite of the recipe)."""
    pass_rate: float = 1.0
    """Share of the required suites' tests that must pass (1.0: all of them)."""
    new_failures: bool = False
    """Whether failures whose signature the baseline did not have are allowed."""
    baseline: str | int = LAST_GO
    """'last-go' (the latest earlier run judged GO) or a run id."""
    waive: tuple[str, ...] = ()
    """Annotation tags that waive a failure (from ``known``, ``flaky``); each waiver is listed."""
    slo: bool = True
    """Each service's p95 over the run stays under its ``slo_ms``."""
    error_rate: float | None = 0.05
    """Largest share of a service's probed requests that may fail during the run (None: off)."""
    min_samples: int = 3
    """A service with fewer latency samples in the run is reported, not judged."""
    restarts: int = 0
    """Unexpected restarts allowed per service during the run (not caused by an action)."""
    crash_loop: int = 3
    """This many restarts of one service in a run is a crash loop, whatever caused them."""
    seeds_verified: bool = False
    """Every seed's verify step must pass at the start of the run (before the suites)."""

    def required(self, all_suites: Mapping[str, Suite]) -> tuple[str, ...]:
        return self.suites or tuple(all_suites)


FailFastMethod = Literal["GET", "POST", "PUT", "DELETE"]


@dataclass(frozen=True)
class FailFast:
    """A dependent that must answer (with an error) quickly while the fault is in force."""

    url: str
    method: FailFastMethod = "GET"
    body: str = ""
    """JSON sent with POST/PUT."""
    within: float = 1.0
    """Seconds within which an answer must come."""
    status: tuple[int, int] = (500, 599)
    """The answer expected (an error, not a hang and not a silent success)."""


@dataclass(frozen=True)
class Scenario:
    """A fault on a service, the suites run while it is in force, and what must hold."""

    name: str
    service: str
    fault: str
    """A fault kind (pause, kill, stop, delete-pod, scale-zero, latency, errors)."""
    duration: float = 20.0
    params: Mapping[str, float] = field(default_factory=dict)
    """delay_ms (latency), rate (errors)."""
    suites: tuple[str, ...] = ()
    must_pass: tuple[str, ...] = ()
    """Suites among ``suites`` that must still pass under the fault."""
    fail_fast: FailFast | None = None
    detect_within: float | None = None
    """Seconds within which stagedeck must see the fault (the service not healthy)."""
    recover_within: float = 15.0
    """Seconds after lifting within which every service must be healthy again."""
    description: str = ""


# --------------------------------------------------------------------------- schema

Check = Callable[[Any], str | None]


def _share(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        return "must be a number from 0 to 1 (0.95 is 95 %)"
    return None


def _count(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        return "must be a whole number, 0 or more"
    return None


def _baseline(v: Any) -> str | None:
    if v == LAST_GO or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
        return None
    return f'must be "{LAST_GO}" or a run id (a whole number)'


def _error_rate(v: Any) -> str | None:
    return None if v is False else _share(v)


def _method(v: Any) -> str | None:
    return None if v in ("GET", "POST", "PUT", "DELETE") else 'must be "GET", "POST", ...'


def _table(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be a table, like { url = ..., within = 1 }"


def _schemas() -> tuple[dict[str, Check], dict[str, Check], dict[str, Check]]:
    """GATE_KEYS, SCENARIO_KEYS, FAIL_FAST_KEYS: built on first use, with the recipe's own
    checks for the common kinds (``model`` imports this module, so not at import time)."""
    from stagedeck.recipe import model as m

    seconds = m._seconds(0, 3600, above=True)  # a fault lasts at most an hour (faults.model)
    gate: dict[str, Check] = {
        "suites": m._is_str_list,
        "pass_rate": _share,
        "new_failures": m._is_bool,
        "baseline": _baseline,
        "waive": m._is_str_list,
        "slo": m._is_bool,
        "error_rate": _error_rate,
        "min_samples": _count,
        "restarts": _count,
        "crash_loop": _count,
        "seeds_verified": m._is_bool,
    }
    scenario: dict[str, Check] = {
        "service": m._is_str,
        "fault": m._is_str,
        "duration": seconds,
        "delay_ms": m._seconds(0, 60_000),
        "rate": _share,
        "suites": m._is_str_list,
        "must_pass": m._is_str_list,
        "fail_fast": _table,
        "detect_within": seconds,
        "recover_within": seconds,
        "description": m._is_str,
    }
    fail_fast: dict[str, Check] = {
        "url": m._is_str,
        "method": _method,
        "body": m._is_str,
        "within": seconds,
        "status": m._is_status,
    }
    return gate, scenario, fail_fast


class Checker(Protocol):
    """What these sections need of the recipe loader (it is one; see ``model._Loader``)."""

    def problem(self, keypath: tuple[str, ...], message: str, hint: str = "") -> None: ...

    def check_table(
        self, keypath: tuple[str, ...], table: Any, schema: Mapping[str, Check]
    ) -> dict[str, Any]: ...

    def sub_all(self, keypath: tuple[str, ...], value: Any, lookup: Any) -> Any: ...

    def lookup_factory(self, services: Mapping[str, dict[str, Any]], me: str | None) -> Any: ...


def load_gate(
    loader: Checker, raw: Any, suites: Mapping[str, Suite], suggest: Callable[..., str]
) -> Gate:
    kp = ("gate",)
    table = loader.check_table(kp, raw, _schemas()[0])
    for name in table.get("suites", ()):
        if name not in suites:
            loader.problem(
                kp + ("suites",),
                f"names unknown suite '{name}'",
                suggest(name, suites, "known suites") if suites else "no suites are defined",
            )
    waive = tuple(table.get("waive", ()))
    for tag in waive:
        if tag not in WAIVABLE_TAGS:
            loader.problem(
                kp + ("waive",),
                f"'{tag}' cannot waive a failure",
                f"only annotations tagged {' or '.join(WAIVABLE_TAGS)} may waive a failure",
            )
    if "baseline" in table and table.get("new_failures") is True:
        loader.problem(
            kp + ("baseline",),
            "a baseline is compared only when new failures are refused",
            "remove baseline, or set new_failures = false",
        )
    rate = table.get("error_rate", 0.05)
    return Gate(
        suites=tuple(table.get("suites", ())),
        pass_rate=float(table.get("pass_rate", 1.0)),
        new_failures=bool(table.get("new_failures", False)),
        baseline=table.get("baseline", LAST_GO),
        waive=tuple(t for t in waive if t in WAIVABLE_TAGS),
        slo=bool(table.get("slo", True)),
        error_rate=None if rate is False else float(rate),
        min_samples=int(table.get("min_samples", 3)),
        restarts=int(table.get("restarts", 0)),
        crash_loop=int(table.get("crash_loop", 3)),
        seeds_verified=bool(table.get("seeds_verified", False)),
    )


def load_scenarios(
    loader: Checker,
    raw: Any,
    services: Mapping[str, Service],
    suites: Mapping[str, Suite],
    facts: Mapping[str, dict[str, Any]],
    suggest: Callable[..., str],
) -> dict[str, Scenario]:
    if not isinstance(raw, dict):
        loader.problem(("scenarios",), "must be a table of scenarios", "write [scenarios.NAME]")
        return {}
    out: dict[str, Scenario] = {}
    _, scenario_keys, fail_fast_keys = _schemas()
    kinds = list(FAULT_KINDS)
    lookup = loader.lookup_factory(facts, None)
    for name, table in raw.items():
        kp = ("scenarios", name)
        t = loader.check_table(kp, table, scenario_keys)
        if not t and not isinstance(table, dict):
            continue
        missing = [k for k in ("service", "fault") if k not in t]
        for key in missing:
            loader.problem(kp, f"missing required key '{key}'", f"add {key} = ...")
        if missing:
            continue
        t = {k: loader.sub_all(kp + (k,), v, lookup) for k, v in t.items()}
        if t["service"] not in services:
            loader.problem(
                kp + ("service",),
                f"names unknown service '{t['service']}'",
                suggest(t["service"], services, "known services"),
            )
        if t["fault"] not in kinds:
            loader.problem(
                kp + ("fault",),
                f"unknown fault '{t['fault']}'",
                suggest(t["fault"], kinds, "faults"),
            )
        for key in ("suites", "must_pass"):
            for suite in t.get(key, ()):
                if suite not in suites:
                    loader.problem(
                        kp + (key,),
                        f"names unknown suite '{suite}'",
                        suggest(suite, suites, "known suites") if suites else "no suites defined",
                    )
        for suite in t.get("must_pass", ()):
            if suite in suites and suite not in t.get("suites", ()):
                loader.problem(
                    kp + ("must_pass",),
                    f"'{suite}' must pass but is not run",
                    f'add it to suites = [..., "{suite}"]',
                )
        params: dict[str, float] = {k: float(t[k]) for k in ("delay_ms", "rate") if k in t}
        if t["fault"] == "latency" and "delay_ms" not in params:
            loader.problem(kp, "a latency fault needs delay_ms", "add delay_ms = 500")
        if t["fault"] == "errors" and "rate" not in params:
            loader.problem(kp, "an errors fault needs rate", "add rate = 0.5")
        fail_fast = None
        if "fail_fast" in t:
            f = loader.check_table(kp + ("fail_fast",), t["fail_fast"], fail_fast_keys)
            if "url" not in f:
                loader.problem(
                    kp + ("fail_fast",),
                    "needs url",
                    'e.g. fail_fast = { url = "{service.gateway.url}/api/orders", within = 1 }',
                )
            elif not f["url"].startswith(("http://", "https://")):
                loader.problem(kp + ("fail_fast", "url"), "must be an http:// URL")
            else:
                status = f.get("status", [500, 599])
                fail_fast = FailFast(
                    url=f["url"],
                    method=f.get("method", "GET"),
                    body=f.get("body", ""),
                    within=float(f.get("within", 1.0)),
                    status=(status, status) if isinstance(status, int) else (status[0], status[1]),
                )
        out[name] = Scenario(
            name=name,
            service=t["service"],
            fault=t["fault"],
            duration=float(t.get("duration", 20.0)),
            params=params,
            suites=tuple(t.get("suites", ())),
            must_pass=tuple(t.get("must_pass", ())),
            fail_fast=fail_fast,
            detect_within=float(t["detect_within"]) if "detect_within" in t else None,
            recover_within=float(t.get("recover_within", 15.0)),
            description=str(t.get("description", "")),
        )
    return out
