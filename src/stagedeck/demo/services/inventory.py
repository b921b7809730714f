"""inventory: stock per SKU, with reservations.

An order first *reserves* stock (so two customers cannot buy the last item),
then either *commits* the reservation when the order ships or *releases* it
when the order fails. ``available = on_hand - reserved`` is what can still be
sold; the flow suites check that failed orders give it back.

API: ``GET /skus``, ``GET|PUT /skus/{sku}``, ``POST /reservations``,
``GET /reservations?order_id=``, ``POST /reservations/{id}/release|commit``.
"""

from __future__ import annotations

import threading
from typing import Any

from stagedeck.demo import fields
from stagedeck.demo.base import DemoService
from stagedeck.demo.web import HTTPError, Reply, Request

MAX_STOCK = 1_000_000


class Service(DemoService):
    name = "inventory"

    def setup(self) -> None:
        self._lock = threading.Lock()
        self.reset()
        self.route("GET", "/skus", self.list_skus)
        self.route("GET", "/skus/{sku}", self.get_sku)
        self.route("PUT", "/skus/{sku}", self.put_sku)
        self.route("POST", "/reservations", self.reserve)
        self.route("GET", "/reservations", self.list_reservations)
        self.route("POST", "/reservations/{id}/release", self.release)
        self.route("POST", "/reservations/{id}/commit", self.commit)

    def reset(self) -> None:
        with self._lock:
            self._skus: dict[str, dict[str, Any]] = {}
            self._reservations: dict[str, dict[str, Any]] = {}
            self._next = 1

    @staticmethod
    def _view(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "available": item["on_hand"] - item["reserved"]}

    def _item(self, sku: str) -> dict[str, Any]:
        item = self._skus.get(sku)
        if item is None:
            raise HTTPError(404, f"unknown SKU {sku}")
        return item

    def list_skus(self, request: Request) -> Reply:
        with self._lock:
            return Reply(200, [self._view(self._skus[k]) for k in sorted(self._skus)])

    def get_sku(self, request: Request) -> Reply:
        with self._lock:
            return Reply(200, self._view(self._item(request.params["sku"])))

    def put_sku(self, request: Request) -> Reply:
        sku = fields.sku(request.params["sku"])
        body = fields.body_object(request.body)
        name = fields.text(body, "name", max_len=120)
        price = fields.integer(body, "price_cents", low=1, high=100_000_000)
        on_hand = fields.integer(body, "on_hand", low=0, high=MAX_STOCK)
        with self._lock:
            existing = self._skus.get(sku)
            reserved = existing["reserved"] if existing else 0
            if on_hand < reserved:
                raise HTTPError(409, f"{sku} has {reserved} reserved; on_hand cannot be {on_hand}")
            item = {
                "sku": sku,
                "name": name,
                "price_cents": price,
                "on_hand": on_hand,
                "reserved": reserved,
            }
            self._skus[sku] = item
        self.log.info(
            request.rid,
            f"{'updated' if existing else 'created'} {sku} on_hand={on_hand} "
            f"price={fields.money(price)}",
        )
        return Reply(200 if existing else 201, self._view(item))

    def reserve(self, request: Request) -> Reply:
        body = fields.body_object(request.body)
        sku = fields.sku(fields.text(body, "sku", max_len=40))
        qty = fields.integer(body, "qty", low=1, high=MAX_STOCK)
        order_id = fields.text(body, "order_id", max_len=40)
        with self._lock:
            item = self._item(sku)
            available = item["on_hand"] - item["reserved"]
            if qty > available:
                raise HTTPError(
                    409, f"insufficient stock for {sku}: {available} available, {qty} wanted"
                )
            item["reserved"] += qty
            rid = f"r-{self._next:05d}"
            self._next += 1
            reservation = {
                "id": rid,
                "sku": sku,
                "qty": qty,
                "order_id": order_id,
                "state": "held",
                "price_cents": item["price_cents"],
            }
            self._reservations[rid] = reservation
            left = available - qty
        self.log.info(
            request.rid, f"reserved {qty} x {sku} for {order_id} ({rid}) available={left}"
        )
        return Reply(201, dict(reservation))

    def list_reservations(self, request: Request) -> Reply:
        order_id = request.query.get("order_id")
        with self._lock:
            found = [
                dict(r)
                for r in self._reservations.values()
                if order_id is None or r["order_id"] == order_id
            ]
        return Reply(200, found)

    def release(self, request: Request) -> Reply:
        return self._finish(request, "released")

    def commit(self, request: Request) -> Reply:
        return self._finish(request, "committed")

    def _finish(self, request: Request, state: str) -> Reply:
        """Move a held reservation to ``state``; repeating the same move is harmless."""
        rid = request.params["id"]
        with self._lock:
            reservation = self._reservations.get(rid)
            if reservation is None:
                raise HTTPError(404, f"unknown reservation {rid}")
            if reservation["state"] == state:
                return Reply(200, dict(reservation))
            if reservation["state"] != "held":
                raise HTTPError(409, f"reservation {rid} is already {reservation['state']}")
            item = self._skus.get(reservation["sku"])
            if item is not None:
                item["reserved"] -= reservation["qty"]
                if state == "committed":
                    item["on_hand"] -= reservation["qty"]
            reservation["state"] = state
            result = dict(reservation)
        self.log.info(
            request.rid,
            f"{state} {rid}: {result['qty']} x {result['sku']} for {result['order_id']}",
        )
        return Reply(200, result)
