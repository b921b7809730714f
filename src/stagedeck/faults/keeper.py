"""The fault keeper: a small process that lifts faults when their owner cannot.

A fault must never outlive its reason. The process that injected it lifts it
when it expires or when it quits; but a SIGKILL or an OOM kill runs nothing in
the dying process, and a paused container or a workload scaled to zero would
stay that way. So the owner starts this keeper (in its own session, so a
closed terminal does not reach it) with a pipe on its stdin and tells it about
each fault. The keeper lifts a fault itself when:

* the pipe reaches EOF (the kernel closes it however the owner dies), or
* the fault's deadline passed by ``GRACE_SECONDS`` without the owner saying
  it was lifted (an owner that hangs is as bad as one that died).

It also finishes the fault's audit entry, so Activity does not show a fault
"running" forever. Protocol on stdin, one JSON object per line::

    {"op": "add", "id": "f1", "deadline": 1700000000.0, "undo": {...},
     "audit": {"db": "/path/shared.db", "id": 12}}
    {"op": "done", "id": "f1"}

The kinds of undo are in :func:`lift`; every one is safe to repeat.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

GRACE_SECONDS = 3.0
"""How long past a deadline the keeper waits for the owner to lift a fault itself."""


def lift(undo: dict[str, Any]) -> str:
    """Carry out one undo; returns what was done (or why nothing was). Never raises."""
    kind = undo.get("kind")
    try:
        if kind == "signal":
            os.killpg(int(undo["pgid"]), getattr(signal, str(undo.get("signal", "SIGCONT"))))
            return f"sent {undo.get('signal', 'SIGCONT')} to process group {undo['pgid']}"
        if kind == "docker":
            return _docker(undo)
        if kind == "k8s-scale":
            return _k8s_scale(undo)
        if kind == "http":
            return _http(undo)
        if kind == "none":
            return "nothing to undo"
    except ProcessLookupError:
        return "the process is gone"
    except Exception as exc:  # the keeper must outlive any one failure
        return f"could not lift: {type(exc).__name__}: {exc}"
    return f"unknown undo {kind!r}"


def _docker(undo: dict[str, Any]) -> str:
    import docker

    client = (
        docker.DockerClient(base_url=undo["base_url"], timeout=30)
        if undo.get("base_url")
        else docker.from_env(timeout=30)
    )
    try:
        container = client.containers.get(undo["container"])
        state = container.attrs.get("State", {})
        if undo["action"] == "unpause":
            if state.get("Paused"):
                container.unpause()
                return f"unpaused {container.name}"
            return f"{container.name} was not paused"
        if undo["action"] == "start":
            if not state.get("Running"):
                container.start()
                return f"started {container.name}"
            return f"{container.name} was running"
        return f"unknown docker action {undo['action']!r}"
    finally:
        client.close()


def _k8s_scale(undo: dict[str, Any]) -> str:
    from kubernetes import client, config

    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=undo.get("kubeconfig") or None, context=undo.get("context") or None
    )
    try:
        apps = client.AppsV1Api(api_client)
        body = {"spec": {"replicas": int(undo["replicas"])}}
        if undo.get("plural") == "statefulsets":
            apps.patch_namespaced_stateful_set(undo["name"], undo["namespace"], body)
        else:
            apps.patch_namespaced_deployment(undo["name"], undo["namespace"], body)
        return f"scaled {undo['name']} back to {undo['replicas']}"
    finally:
        api_client.close()


def _http(undo: dict[str, Any]) -> str:
    import urllib.request

    data = json.dumps(undo.get("json", {})).encode()
    request = urllib.request.Request(
        undo["url"],
        data=data,
        method=undo.get("method", "POST"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return f"{undo.get('method', 'POST')} {undo['url']}: {response.status}"


def finish_audit(audit: dict[str, Any] | None, detail: str) -> None:
    if not audit:
        return
    with contextlib.suppress(Exception):
        from stagedeck.store import Store

        Store.open(audit["db"]).audit_finish(
            int(audit["id"]), "ok", {"lifted": "by the fault keeper", "detail": detail}
        )


def _reader(lines: queue.Queue[str | None]) -> None:
    for raw in sys.stdin:
        lines.put(raw)
    lines.put(None)


def main() -> int:
    # Terminal signals are for the owner; the keeper acts on its pipe and its clock.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    faults: dict[str, dict[str, Any]] = {}
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(lines,), daemon=True).start()
    while True:
        now = time.time()
        due = [i for i, f in faults.items() if f["deadline"] + GRACE_SECONDS <= now]
        for fault_id in due:
            fault = faults.pop(fault_id)
            finish_audit(fault.get("audit"), lift(fault["undo"]) + " (its owner did not)")
        wait = min((f["deadline"] + GRACE_SECONDS - now for f in faults.values()), default=3600)
        try:
            raw = lines.get(timeout=max(0.05, wait))
        except queue.Empty:
            continue
        if raw is None:
            break
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if message.get("op") == "add":
            faults[str(message["id"])] = message
        elif message.get("op") == "done":
            faults.pop(str(message.get("id")), None)
    # The owner is gone: lift everything it left.
    for fault in faults.values():
        finish_audit(fault.get("audit"), lift(fault["undo"]) + " after its owner died")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
