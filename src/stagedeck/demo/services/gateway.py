"""gateway: the public API, ``/api/...``, in front of orders and inventory.

It owns no data. It is where a request id is born (``X-Request-Id`` is made
up here when a client sends none) and where clients see one consistent API
while the services behind it keep their own paths. Upstream answers, errors
included, pass through unchanged; an unreachable upstream is a 502.
"""

from __future__ import annotations

from urllib.parse import urlencode

from stagedeck.demo.base import DemoService
from stagedeck.demo.upstream import error_text, segment
from stagedeck.demo.web import Handler, Reply, Request

ROUTES: tuple[tuple[str, str, str, str], ...] = (
    # method, public path, upstream, upstream path
    ("GET", "/api/inventory", "inventory", "/skus"),
    ("GET", "/api/inventory/{sku}", "inventory", "/skus/{sku}"),
    ("PUT", "/api/inventory/{sku}", "inventory", "/skus/{sku}"),
    ("GET", "/api/orders", "orders", "/orders"),
    ("POST", "/api/orders", "orders", "/orders"),
    ("GET", "/api/orders/{id}", "orders", "/orders/{id}"),
    ("GET", "/api/orders/{id}/ledger", "orders", "/orders/{id}/ledger"),
    ("POST", "/api/orders/{id}/cancel", "orders", "/orders/{id}/cancel"),
)


class Service(DemoService):
    name = "gateway"
    work_ms = (0.5, 2.0)
    upstream_timeout = 10.0  # an order fans out to three services, each allowed 3 s

    def setup(self) -> None:
        self.route("GET", "/api", self.index)
        for method, public, upstream, path in ROUTES:
            self.route(method, public, self._proxy(upstream, path))

    def reset(self) -> None:
        """The gateway keeps no data; a cascading reset passes through it."""

    def index(self, request: Request) -> Reply:
        return Reply(200, {"service": self.name, "routes": [f"{m} {p}" for m, p, _, _ in ROUTES]})

    def _proxy(self, upstream: str, path: str) -> Handler:
        def forward(request: Request) -> Reply:
            target = path.format(**{k: segment(v) for k, v in request.params.items()})
            if request.query:
                target += "?" + urlencode(request.query)
            status, answer = self.upstream(upstream).call(
                request.method, target, request.rid, request.body
            )
            return Reply(status, answer, error_text(answer) if status >= 400 else "")

        return forward
