"""The Kubernetes target: services are Deployments and StatefulSets in a namespace.

The Kubernetes client is an optional extra (``pip install 'stagedeck[kubernetes]'``):
with its dependencies it is about 160 MB and 19 packages, over two thirds of an
install, for a target many users never open. :func:`require_sdk` turns its
absence into one clear sentence instead of an ImportError deep in a worker.
"""

from __future__ import annotations

import importlib.util
import sys

from stagedeck.targets.base import TargetError

INSTALL_HINT = (
    "the Kubernetes client is not installed; install it with: pip install 'stagedeck[kubernetes]'"
)


class KubernetesMissing(TargetError):
    """The ``kubernetes`` extra is not installed."""


def _installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require_sdk() -> None:
    """Raise :class:`KubernetesMissing` unless the client and its HTTP library are there.

    Looks without importing (the client takes over a second to import).
    """
    if not (_installed("kubernetes") and _installed("aiohttp")):
        raise KubernetesMissing(INSTALL_HINT)
