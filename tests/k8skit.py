"""Moved to tests/support/k8skit.py; import ``support.k8skit`` in new code.

This shim only keeps tests written before the move working (branches not yet
merged import ``k8skit``): it makes ``import k8skit`` the very module
``support.k8skit``, fixtures included. Remove it once nothing imports ``k8skit``.
"""

import sys

from support import k8skit as _moved

sys.modules[__name__] = _moved
