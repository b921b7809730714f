"""payments: authorises and refunds card payments, like a slow external PSP.

Payment networks are the slow part of checkout, so every call takes 20-60 ms.
Two rules make declines reproducible for tests: the card ``4000000000000002``
is always declined, and so is any amount over 10,000.00. A decline is an
answer (402), not an error; an outage is a 5xx, and the orders service must
treat the two differently.

API: ``POST /payments``, ``GET /payments``, ``GET /payments/{id}``,
``POST /payments/{id}/refund``.
"""

from __future__ import annotations

import threading
from typing import Any

from stagedeck.demo import fields
from stagedeck.demo.base import DemoService
from stagedeck.demo.logfmt import timestamp
from stagedeck.demo.web import HTTPError, Reply, Request

DECLINED_CARD = "4000000000000002"
LIMIT_CENTS = 1_000_000
"""10,000.00: larger amounts are declined."""


class Service(DemoService):
    name = "payments"
    work_ms = (20.0, 60.0)

    def setup(self) -> None:
        self._lock = threading.Lock()
        self.reset()
        self.route("POST", "/payments", self.authorise)
        self.route("GET", "/payments", self.list_payments)
        self.route("GET", "/payments/{id}", self.get_payment)
        self.route("POST", "/payments/{id}/refund", self.refund)

    def reset(self) -> None:
        with self._lock:
            self._payments: dict[str, dict[str, Any]] = {}
            self._next = 1

    def authorise(self, request: Request) -> Reply:
        body = fields.body_object(request.body)
        order_id = fields.text(body, "order_id", max_len=40)
        amount = fields.integer(body, "amount_cents", low=1, high=10**12)
        card = fields.card(fields.text(body, "card", max_len=19))
        reason = ""
        if card == DECLINED_CARD:
            reason = "card declined by issuer"
        elif amount > LIMIT_CENTS:
            reason = f"amount over limit {fields.money(LIMIT_CENTS)}"
        with self._lock:
            pid = f"p-{self._next:05d}"
            self._next += 1
            payment = {
                "id": pid,
                "order_id": order_id,
                "amount_cents": amount,
                "card_last4": card[-4:],
                "status": "declined" if reason else "authorised",
                "reason": reason,
                "at": timestamp(),
            }
            self._payments[pid] = payment
        if reason:
            self.log.warn(
                request.rid,
                f"declined {pid} for {order_id} amount={fields.money(amount)}: {reason}",
            )
            return Reply(402, dict(payment), reason)
        self.log.info(
            request.rid,
            f"authorised {pid} for {order_id} amount={fields.money(amount)} card=*{card[-4:]}",
        )
        return Reply(201, dict(payment))

    def list_payments(self, request: Request) -> Reply:
        order_id = request.query.get("order_id")
        with self._lock:
            found = [
                dict(p)
                for p in self._payments.values()
                if order_id is None or p["order_id"] == order_id
            ]
        return Reply(200, found)

    def get_payment(self, request: Request) -> Reply:
        with self._lock:
            payment = self._payments.get(request.params["id"])
            if payment is None:
                raise HTTPError(404, f"unknown payment {request.params['id']}")
            return Reply(200, dict(payment))

    def refund(self, request: Request) -> Reply:
        pid = request.params["id"]
        with self._lock:
            payment = self._payments.get(pid)
            if payment is None:
                raise HTTPError(404, f"unknown payment {pid}")
            if payment["status"] == "refunded":
                return Reply(200, dict(payment))
            if payment["status"] != "authorised":
                raise HTTPError(409, f"payment {pid} is {payment['status']}; cannot refund")
            payment["status"] = "refunded"
            result = dict(payment)
        amount = fields.money(result["amount_cents"])
        self.log.info(request.rid, f"refunded {pid} for {result['order_id']} amount={amount}")
        return Reply(200, result)
