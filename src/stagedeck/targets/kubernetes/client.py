"""The thin adapter over ``kubernetes.aio``: the only module that imports it.

Everything else in stagedeck talks to :class:`KubeClient` and gets plain
JSON dicts and a handful of exceptions back. Three reasons:

* **Raw JSON, not models.** The generated client turns every object into
  pydantic models; the target needs a dozen fields of each pod. Reading the
  ``*_without_preload_content`` responses ourselves keeps a 500-pod relist
  cheap and keeps the rest of the code independent of the model classes.
* **One error vocabulary.** aiohttp, the API server's ``Status`` objects and
  watch ``ERROR`` events all become :class:`Unreachable`, :class:`Forbidden`,
  :class:`NotFound`, :class:`Gone` or :class:`KubeError`, with messages a
  person can act on.
* **Our own timeouts.** The generated client gives every request one *total*
  timeout (five minutes by default), which would cut a log stream that
  follows a pod for an hour. Here a request has a time limit until the
  response headers arrive, and streams have an idle limit instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import json
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import aiohttp

Kind = Literal["pods", "deployments", "statefulsets"]
KINDS: tuple[Kind, ...] = ("deployments", "statefulsets", "pods")

REQUEST_TIMEOUT = 15.0
"""Seconds until the response headers of an ordinary request must have arrived."""
STREAM_TOTAL = 7 * 24 * 3600.0
"""The generated client's total timeout for streams: effectively none, see the module doc."""

Json = dict[str, Any]


class KubeError(Exception):
    """The API server said no, or could not be asked; ``str()`` is for people."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Unreachable(KubeError):
    """No answer: connection refused or dropped, DNS, TLS, or a timeout."""


class Forbidden(KubeError):
    """403: RBAC does not allow this verb on this resource."""


class NotFound(KubeError):
    """404: no such object (or, for exec, no such endpoint)."""


class Gone(KubeError):
    """410: the resourceVersion a watch asked for is too old; relist."""


class ExecUnavailable(KubeError):
    """The server did not upgrade the exec request to a websocket (no exec support)."""


class ConfigProblem(KubeError):
    """The kubeconfig is missing, unreadable or lacks the context asked for."""


@dataclass(frozen=True)
class ListResult:
    items: list[Json]
    resource_version: str


@dataclass(frozen=True)
class Connection:
    """What a kubeconfig context resolved to."""

    context: str
    namespace: str
    server: str


def kubeconfig_paths() -> list[str]:
    raw = os.environ.get("KUBECONFIG") or os.path.join("~", ".kube", "config")
    return [os.path.expanduser(p) for p in raw.split(os.pathsep) if p]


def list_contexts(config_file: str | None = None) -> tuple[list[str], str | None]:
    """Context names in the kubeconfig and the current one; ([], None) without a kubeconfig."""
    kconfig = _sdk("config")
    paths = [config_file] if config_file else kubeconfig_paths()
    if not any(os.path.exists(p) for p in paths):
        return [], None
    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file or os.pathsep.join(paths))
    except Exception as exc:  # the loader raises bare ConfigException and KeyError alike
        raise ConfigProblem(f"cannot read kubeconfig: {exc}") from None
    names = [str(c["name"]) for c in contexts or []]
    return names, (str(current["name"]) if current else None)


def _status_message(body: bytes, fallback: str) -> tuple[str, str]:
    """The (message, reason) of a Kubernetes ``Status`` body, or the HTTP reason."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()
        return (text[:300] or fallback), ""
    if isinstance(data, dict):
        return str(data.get("message") or fallback), str(data.get("reason") or "")
    return fallback, ""


def error_for(status: int, message: str, reason: str = "") -> KubeError:
    cls: type[KubeError] = {403: Forbidden, 404: NotFound, 410: Gone}.get(status, KubeError)
    if status in (502, 503, 504):
        cls = Unreachable
    return cls(message, status, reason)


def describe_connection_error(exc: BaseException) -> str:
    """Short words for why the API server could not be reached."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        # asyncio words it "Connect call failed ('127.0.0.1', 6443)": the errno says more.
        why = os.strerror(os_error.errno) if os_error.errno else os_error.strerror
        return (why or str(os_error)).lower()
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the API server closed the connection"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection broke mid-response"
    return str(exc) or type(exc).__name__


_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


def _sdk(module: str) -> Any:
    """A ``kubernetes.aio`` module, untyped on purpose: its types stop at this file."""
    return importlib.import_module(f"kubernetes.aio.{module}")


CREDENTIALS_TTL = 240.0
"""Seconds before short-lived credentials (exec plugins, auth providers) are fetched again."""


def _refresh_credentials(loader: Any, configuration: Any) -> None:
    """Re-run the kubeconfig's credential plugin every few minutes (EKS, GKE tokens expire).

    The generated client calls ``refresh_api_key_hook`` before every request,
    and awaits it when it is a coroutine; static tokens and certificates need
    nothing, so the hook is only installed for plugin users.
    """
    user = getattr(loader, "_user", None) or {}
    if "exec" not in user and "auth-provider" not in user:
        return
    lock = asyncio.Lock()
    loaded = time.monotonic()

    async def hook(config: Any) -> None:
        nonlocal loaded
        if time.monotonic() - loaded < CREDENTIALS_TTL:
            return
        async with lock:
            if time.monotonic() - loaded < CREDENTIALS_TTL:
                return
            await loader.load_and_set(config)
            config.refresh_api_key_hook = hook  # load_and_set may copy fields over it
            loaded = time.monotonic()

    configuration.refresh_api_key_hook = hook


def _import_sdk() -> None:
    for module in ("client", "config"):
        _sdk(module)


def _import_exec_api() -> tuple[Any, Any]:
    """``CoreV1Api`` and the websocket client, for exec only: importing ``CoreV1Api`` builds
    pydantic validators for each of its methods, over a second of CPU, so the rest of
    this module does without it."""
    return _sdk("client").CoreV1Api, _sdk("stream").WsApiClient


PATHS: dict[str, str] = {
    "pods": "/api/v1/namespaces/{namespace}/pods",
    "deployments": "/apis/apps/v1/namespaces/{namespace}/deployments",
    "statefulsets": "/apis/apps/v1/namespaces/{namespace}/statefulsets",
}
"""The collection of each kind. Requests are made on the ``ApiClient`` directly (its
auth, TLS, proxy and credential refresh included), not through the generated
``CoreV1Api``/``AppsV1Api``: importing those took 1.2 s of the Kubernetes cockpit's
1.6 s before its first frame."""


def resource_path(kind: Kind, namespace: str, name: str = "", sub: str = "") -> str:
    path = PATHS[kind].format(namespace=quote(namespace, safe=""))
    if name:
        path += "/" + quote(name, safe="")
    return path + (f"/{sub}" if sub else "")


def query(**params: object) -> list[tuple[str, str]]:
    """Query parameters as the API spells them (camelCase, booleans lower case), Nones left out."""
    out = []
    for key, value in params.items():
        if value is None:
            continue
        head, *rest = key.split("_")
        name = head + "".join(part.title() for part in rest)
        out.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
    return out


class KubeClient:
    """One context's API server, spoken to with raw JSON."""

    def __init__(self, api_client: Any, stream_client: Any, connection: Connection) -> None:
        self._api = api_client
        self._streams = stream_client
        self.connection = connection
        self._configuration = api_client.configuration

    @property
    def server(self) -> str:
        return self.connection.server

    @classmethod
    async def connect(
        cls, context: str = "", namespace: str = "", config_file: str | None = None
    ) -> KubeClient:
        """Load the kubeconfig (its current context unless ``context``); talk to nothing yet."""
        await asyncio.to_thread(_import_sdk)  # a slow import must not freeze the loop
        kclient, kconfig = _sdk("client"), _sdk("config")
        paths = [config_file] if config_file else kubeconfig_paths()
        if not any(os.path.exists(p) for p in paths):
            where = os.pathsep.join(paths)
            raise ConfigProblem(
                f"no kubeconfig at {where}: set KUBECONFIG or create ~/.kube/config"
            )
        configuration = kclient.Configuration()
        try:
            loader = await kconfig.load_kube_config(
                config_file=config_file or os.pathsep.join(paths),
                context=context or None,
                client_configuration=configuration,
                persist_config=False,
            )
        except Exception as exc:  # ConfigException, KeyError, yaml errors: all mean "fix the file"
            known = ""
            with contextlib.suppress(Exception):
                names, _ = list_contexts(config_file)
                known = f" (known contexts: {', '.join(names)})" if names else ""
            what = f"context '{context}'" if context else "the current context"
            raise ConfigProblem(f"kubeconfig: cannot use {what}: {exc}{known}") from None
        current = loader.current_context
        name = str(current.get("name", context or ""))
        ns = namespace or str((current.get("context") or {}).get("namespace") or "default")
        connection = Connection(name, ns, str(configuration.host))
        _refresh_credentials(loader, configuration)
        streams = copy.deepcopy(configuration)
        _refresh_credentials(loader, streams)
        # Log streams each hold a connection for as long as a pod lives: no pool limit for them.
        streams.connection_pool_maxsize = 0
        return cls(kclient.ApiClient(configuration), kclient.ApiClient(streams), connection)

    async def close(self) -> None:
        await asyncio.gather(self._api.close(), self._streams.close(), return_exceptions=True)

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self, call: Awaitable[aiohttp.ClientResponse], timeout: float = REQUEST_TIMEOUT
    ) -> aiohttp.ClientResponse:
        """Await the response headers; map failures to our errors."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the response does, and a cancelled log follower would then live on.
        try:
            async with asyncio.timeout(timeout):
                response = await call
        except _NETWORK_ERRORS as exc:
            raise Unreachable(describe_connection_error(exc)) from None
        if response.status >= 400:
            try:
                async with asyncio.timeout(timeout):
                    body = await response.read()
            except _NETWORK_ERRORS:
                body = b""
            finally:
                response.release()
            message, reason = _status_message(body, f"HTTP {response.status} {response.reason}")
            raise error_for(response.status, message, reason)
        return response

    async def _json(self, call: Awaitable[aiohttp.ClientResponse]) -> Json:
        response = await self._call(call)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                body = await response.read()
        except _NETWORK_ERRORS as exc:
            raise Unreachable(describe_connection_error(exc)) from None
        finally:
            response.release()
        try:
            data = json.loads(body)
        except ValueError:
            raise KubeError(
                f"the API server sent something that is not JSON: {body[:80]!r}"
            ) from None
        if not isinstance(data, dict):
            raise KubeError("the API server sent JSON that is not an object")
        return data

    async def _request(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        timeout: float = REQUEST_TIMEOUT,
        streaming: bool = False,
    ) -> aiohttp.ClientResponse:
        """One request as the generated API methods make it (``*_without_preload_content``):
        serialised and authenticated by the ``ApiClient``, the raw response returned."""
        api = self._streams if streaming else self._api
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = await api.param_serialize(
            method=method,
            resource_path=path,
            query_params=params or [],
            header_params=headers,
            body=dict(body) if body is not None else None,
            auth_settings=["BearerToken"],
        )
        response = await api.call_api(*request, _preload_content=False, _request_timeout=timeout)
        return response.response  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ reading

    async def list(
        self, kind: Kind, namespace: str, *, label_selector: str | None = None
    ) -> ListResult:
        data = await self._json(
            self._request(
                "GET", resource_path(kind, namespace), query(label_selector=label_selector or None)
            )
        )
        items = data.get("items") or []
        rv = str((data.get("metadata") or {}).get("resourceVersion") or "")
        return ListResult([i for i in items if isinstance(i, dict)], rv)

    async def get(self, kind: Kind, namespace: str, name: str) -> Json:
        return await self._json(self._request("GET", resource_path(kind, namespace, name)))

    async def watch(
        self,
        kind: Kind,
        namespace: str,
        *,
        resource_version: str,
        timeout_seconds: int,
        idle_timeout: float,
        label_selector: str | None = None,
    ) -> AsyncGenerator[Json, None]:
        """Start a watch; returns once the server accepted it (close it with ``aclose``).

        The events are dicts (``type``, ``object``) until the server ends the
        watch. An ``ERROR`` event raises (410 as :class:`Gone`); silence longer
        than ``idle_timeout`` raises :class:`Unreachable`, since a live server
        sends at least bookmarks.
        """
        params = query(
            watch=True,
            resource_version=resource_version or None,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            label_selector=label_selector or None,
        )
        response = await self._call(
            self._request("GET", resource_path(kind, namespace), params, timeout=STREAM_TOTAL)
        )
        return _watch_events(response, idle_timeout)

    async def logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        follow: bool = True,
        since_seconds: int | None = None,
        tail_lines: int | None = None,
        timestamps: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """Start reading a container's log; returns once the server answered.

        The chunks run until the log ends (with follow: until the container
        stops). There is no ``sinceTime`` here: the generated client lacks it,
        and a resume measured in our own elapsed seconds is immune to clock
        skew between this machine and the cluster anyway.
        """
        params = query(
            container=container,
            follow=follow,
            since_seconds=since_seconds,
            tail_lines=tail_lines,
            timestamps=timestamps,
        )
        response = await self._call(
            self._request(
                "GET",
                resource_path("pods", namespace, pod, "log"),
                params,
                timeout=STREAM_TOTAL,
                streaming=True,
            )
        )
        return _chunks(response)

    # ------------------------------------------------------------------ writing

    async def patch(self, kind: Kind, namespace: str, name: str, body: Mapping[str, Any]) -> Json:
        """A strategic-merge patch; returns the object as the server stored it."""
        return await self._json(
            self._request(
                "PATCH",
                resource_path(kind, namespace, name),
                body=body,
                content_type="application/strategic-merge-patch+json",
            )
        )

    async def delete_pod(self, namespace: str, name: str) -> Json:
        """Delete one pod (a fault: its controller replaces it)."""
        return await self._json(self._request("DELETE", resource_path("pods", namespace, name)))

    # ------------------------------------------------------------------ exec

    async def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        *,
        container: str | None = None,
        on_output: Callable[[bytes], None],
    ) -> int:
        """Run ``argv`` in the pod over the exec websocket; return its exit code.

        Raises :class:`NotFound` when the server offers no exec endpoint (some
        emulators and locked-down gateways), :class:`Forbidden` under RBAC.
        """
        # A second of CPU the first time: in a thread, not on the loop.
        core_api, websocket_client = await asyncio.to_thread(_import_exec_api)
        ws_client = websocket_client(self._configuration)
        try:
            core = core_api(ws_client)
            try:
                connect = await core.connect_get_namespaced_pod_exec_without_preload_content(
                    pod,
                    namespace,
                    command=list(argv),
                    container=container,
                    stdout=True,
                    stderr=True,
                    stdin=False,
                    tty=False,
                )
                async with connect as ws:
                    return await _read_exec_channels(ws, on_output)
            except aiohttp.WSServerHandshakeError as exc:
                message = f"HTTP {exc.status}: {exc.message}"
                if exc.status in (401, 403):
                    raise error_for(exc.status, f"exec refused: {message}") from None
                raise ExecUnavailable(f"no exec websocket, {message}", exc.status) from None
            except _NETWORK_ERRORS as exc:
                raise Unreachable(describe_connection_error(exc)) from None
        finally:
            await ws_client.close()


async def _watch_events(
    response: aiohttp.ClientResponse, idle_timeout: float
) -> AsyncGenerator[Json, None]:
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout):
                    line = await response.content.readline()
            except _NETWORK_ERRORS as exc:
                raise Unreachable(describe_connection_error(exc)) from None
            except ValueError as exc:  # a single event larger than the read buffer
                raise KubeError(f"watch event too large: {exc}") from None
            if not line:
                return  # the server ended the watch (its timeout): resume from the last rv
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                raise KubeError(f"malformed watch event: {line[:80]!r}") from None
            if not isinstance(event, dict):
                continue
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                raise error_for(
                    int(status.get("code") or 500),
                    str(status.get("message") or "watch failed"),
                    str(status.get("reason") or ""),
                )
            yield event
    finally:
        response.close()


async def _chunks(response: aiohttp.ClientResponse) -> AsyncGenerator[bytes, None]:
    try:
        while True:
            try:
                chunk = await response.content.readany()
            except _NETWORK_ERRORS as exc:
                raise Unreachable(describe_connection_error(exc)) from None
            if not chunk:
                return
            yield chunk
    finally:
        response.close()


STDOUT, STDERR, ERROR = 1, 2, 3


async def _read_exec_channels(
    ws: aiohttp.ClientWebSocketResponse, on_output: Callable[[bytes], None]
) -> int:
    """Demultiplex the v4.channel.k8s.io protocol: one leading byte names the channel."""
    status: Json | None = None
    async for message in ws:
        if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            break
        data: bytes = message.data if isinstance(message.data, bytes) else message.data.encode()
        if len(data) < 1:
            continue
        channel, payload = data[0], data[1:]
        if channel in (STDOUT, STDERR) and payload:
            on_output(payload)
        elif channel == ERROR and payload:
            with contextlib.suppress(ValueError):
                status = json.loads(payload)
    return exit_code_of(status)


def exit_code_of(status: Json | None) -> int:
    """The exit code from the exec error channel's ``Status`` (Success means 0)."""
    if status is None or status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(TypeError, ValueError):
                    return int(cause.get("message"))
    raise KubeError(str(status.get("message") or "exec failed"))
