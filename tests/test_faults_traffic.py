"""Latency and error faults: the local proxy (proxy = true) and a service's chaos endpoint.

Real processes on real sockets: a plain HTTP server that knows nothing of
stagedeck behind the proxy, and a demo service with its own /admin/chaos.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from stagedeck.engine import actions
from stagedeck.engine.engine import Engine
from stagedeck.operations import Decision, Operations, requests
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store

YES = Decision(confirmed=True)

PLAIN_SERVER = (
    "import http.server, os; "
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), "
    "http.server.SimpleHTTPRequestHandler).serve_forever()"
)


def write(tmp_path: Path, services: str, target: str = "local") -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "traffic"
        target = "{target}"
        probe_interval = 0.2
        ready_timeout = 15
        """)
        + textwrap.dedent(services)
    )
    return path


async def timed_get(url: str) -> tuple[float, int]:
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        response = await client.get(url)
        return time.perf_counter() - started, response.status_code


async def test_proxy_latency_and_drops_on_a_service_that_knows_nothing_of_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "index.html").write_text("hello")
    path = write(
        tmp_path,
        f"""
        [services.plain]
        command = ["{sys.executable}", "-c", "{PLAIN_SERVER}"]
        cwd = "{tmp_path}"
        port = "auto"
        proxy = true
        health = "/index.html"
        """,
    )
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    ops = Operations(engine, user="alice", store=Store.open(tmp_path / "shared.db"))
    try:
        assert (await actions.bring_up(engine)).ok
        url = engine.service("plain").url + "/index.html"
        proxy = engine.target.proxy("plain")  # type: ignore[attr-defined]
        assert proxy is not None and proxy.backend_port != engine.service("plain").port
        took, status = await timed_get(url)
        assert status == 200 and took < 0.3

        request = requests.fault(ops, "plain", "latency", 2, {"delay_ms": 400})
        assert "waits 400 ms (the stagedeck proxy in front)" in request.touches
        slow = await ops.perform(request, YES)
        took, status = await timed_get(url)
        assert status == 200 and took >= 0.4
        await slow.value.lift()
        took, _ = await timed_get(url)
        assert took < 0.3

        dropping = await ops.perform(requests.fault(ops, "plain", "errors", 5, {"rate": 1.0}), YES)
        with pytest.raises(httpx.TransportError):
            await timed_get(url)
        await dropping.value.lift()
        assert (await timed_get(url))[1] == 200
        # A restart keeps the proxy and points it at the same backend port.
        backend = proxy.backend_port
        assert (await actions.redeploy(engine, "plain")).ok
        assert engine.target.proxy("plain").backend_port == backend  # type: ignore[attr-defined]
        assert (await timed_get(url))[1] == 200
    finally:
        await ops.close()
        await engine.stop()


async def test_the_demo_chaos_endpoint_is_the_same_fault_action(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [services.ledger]
        command = ["{python}", "-m", "stagedeck.demo.serve", "ledger", "--port", "{self.port}"]
        port = "auto"
        health = "/health"
        chaos = "/admin/chaos"
        """,
    )
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    ops = Operations(engine, user="alice", store=Store.open(tmp_path / "shared.db"))
    chaos_url = engine.service("ledger").url + "/admin/chaos"
    try:
        assert (await actions.bring_up(engine)).ok
        request = requests.fault(ops, "ledger", "errors", 1.5, {"rate": 0.25})
        assert "25% of requests to ledger fail (its chaos endpoint)" in request.touches
        result = await ops.perform(request, YES)
        async with httpx.AsyncClient() as client:
            assert (await client.get(chaos_url)).json()["error_rate"] == 0.25
            await result.value.wait()
            assert (await client.get(chaos_url)).json()["error_rate"] == 0
        assert result.value.applied.undo == {
            "kind": "http",
            "method": "POST",
            "url": chaos_url,
            "json": {"error_rate": 0},
        }
    finally:
        await ops.close()
        await engine.stop()


def problems(tmp_path: Path, services: str, target: str = "local") -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, services, target))
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("target", "service", "expected"),
    [
        (
            "docker",
            "[services.api]\nproxy = true\n",
            "proxy = true works on the local target only (this is docker)",
        ),
        ("local", '[services.api]\ncommand = ["x"]\nproxy = true\n', "needs the service's port"),
        (
            "local",
            '[services.api]\ncommand = ["x", "--port", "{self.port}"]\nport = 4100\nproxy = true\n',
            "the service must listen on $PORT",
        ),
        (
            "local",
            '[services.api]\ncommand = ["x"]\nport = 4100\nproxy = true\n'
            'health = { tcp = "127.0.0.1:4100" }\n',
            "a tcp health check only reaches the proxy",
        ),
        ("local", '[services.api]\ncommand = ["x"]\nproxy = "yes"\n', "services.api.proxy"),
        ("local", '[services.api]\ncommand = ["x"]\nchaos = "admin"\n', "chaos is a path"),
        ("local", '[services.api]\ncommand = ["x"]\nproxi = true\n', "proxy"),
    ],
)
def test_proxy_and_chaos_keys_are_validated_with_file_and_line(
    tmp_path: Path, target: str, service: str, expected: str
) -> None:
    (found,) = problems(tmp_path, service, target)
    assert expected in found
    assert f"{tmp_path / 'recipe.toml'}:" in found  # names the file and the line
