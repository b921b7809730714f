"""``stagedeck info``: what a bug report needs, and where every file stagedeck uses lives.

Versions, every path (config, themes, database, state, log), and whether Docker
and Kubernetes answer. Each engine gets a bounded time (``--timeout``, default
3 s) and both are asked at once, so ``info`` answers promptly on a machine with
neither.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from stagedeck.cli.common import EXIT_OK


def _docker(timeout: float) -> dict[str, Any]:
    try:
        import docker

        client = docker.from_env(timeout=max(1, int(timeout)))
        try:
            version = client.version()
        finally:
            client.close()
    except Exception as exc:  # DockerException, connection errors: all mean "not reachable"
        return {"reachable": False, "detail": str(exc).splitlines()[0][:300]}
    return {"reachable": True, "detail": f"engine {version.get('Version', '?')}"}


async def _kubernetes(timeout: float) -> dict[str, Any]:
    from stagedeck.targets.kubernetes import KubernetesMissing, require_sdk

    try:
        require_sdk()
    except KubernetesMissing as exc:
        return {"reachable": False, "detail": str(exc)}
    from stagedeck.targets.kubernetes import client as kube

    # the SDK's import (over a second) is not the cluster's fault: not in the bound
    await asyncio.to_thread(kube._import_sdk)
    async with asyncio.timeout(timeout):
        return await _ask_cluster(kube.KubeClient, kube.KubeError)


async def _ask_cluster(KubeClient: Any, KubeError: Any) -> dict[str, Any]:
    try:
        client = await KubeClient.connect()
    except Exception as exc:  # no kubeconfig, a broken one, no SDK
        return {"reachable": False, "detail": str(exc).splitlines()[0][:300]}
    where = f"context {client.connection.context} at {client.server}"
    try:
        await client.list("pods", client.connection.namespace)
    except KubeError as exc:
        if exc.status:  # the API server answered (403 and the like): it is reachable
            return {"reachable": True, "detail": f"{where} (answered {exc.status})"}
        return {"reachable": False, "detail": f"{where}: {exc}"[:300]}
    except Exception as exc:
        return {"reachable": False, "detail": f"{where}: {exc}"[:300]}
    finally:
        await client.close()
    return {"reachable": True, "detail": where}


async def _engines(timeout: float) -> dict[str, dict[str, Any]]:
    async def bounded(name: str, job: Any, limit: float = timeout) -> dict[str, Any]:
        try:
            async with asyncio.timeout(limit):
                return dict(await job)
        except TimeoutError:
            return {"reachable": False, "detail": f"no answer within {timeout:g} s"}

    docker, kube = await asyncio.gather(
        bounded("docker", asyncio.to_thread(_docker, timeout)),
        bounded("kubernetes", _kubernetes(timeout), timeout * 10),
    )
    return {"docker": docker, "kubernetes": kube}


def gather_info(timeout: float = 3.0, engines: bool = True) -> dict[str, Any]:
    """The shape of ``info --json`` (documented in the README)."""
    import platform  # ~10 ms to import: only for this command

    from stagedeck import __version__
    from stagedeck.cli.logfile import log_path, state_dir
    from stagedeck.config.themes import user_dir
    from stagedeck.config.userconfig import config_path
    from stagedeck.store import default_db_path

    info: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "paths": {
            "config": str(config_path()),
            "themes": str(user_dir()),
            "database": str(default_db_path()),
            "state": str(state_dir()),
            "log": str(log_path()),
        },
    }
    if engines:
        info["engines"] = asyncio.run(_engines(timeout))
    return info


def cmd_info(args: argparse.Namespace) -> int:
    info = gather_info(args.timeout, engines=not args.no_engines)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    out = sys.stdout
    print(f"stagedeck {info['version']} (Python {info['python']}, {info['platform']})", file=out)
    for name, path in info["paths"].items():
        print(f"  {name + ':':12} {path}", file=out)
    for name, state in info.get("engines", {}).items():
        mark = "reachable" if state["reachable"] else "not reachable"
        print(f"  {name + ':':12} {mark} — {state['detail']}", file=out)
    return EXIT_OK


def register(add: Any) -> None:
    p = add("info", cmd_info, "versions, every path stagedeck uses, and which engines answer")
    p.add_argument("--json", action="store_true", help="the same as JSON on stdout")
    p.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait for each engine (default 3)"
    )
    p.add_argument("--no-engines", action="store_true", help="do not ask Docker and Kubernetes")
