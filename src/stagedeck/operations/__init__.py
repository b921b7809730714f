"""Every mutating action, for every front end: refusals, confirmations, audit.

``core`` holds the rules (:class:`Operations`), ``requests`` describes each
action before it runs, ``policy`` is read-only mode. See ``core`` for the
protocol a front end follows: build a request, review it, ask, perform.
"""

from stagedeck.operations.core import (
    Decision,
    NotConfirmed,
    Operations,
    Refused,
    Request,
    Result,
    Review,
)
from stagedeck.operations.policy import ReadOnly

__all__ = [
    "Decision",
    "NotConfirmed",
    "Operations",
    "ReadOnly",
    "Refused",
    "Request",
    "Result",
    "Review",
]
