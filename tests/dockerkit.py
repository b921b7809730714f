"""Moved to tests/support/dockerkit.py; import ``support.dockerkit`` in new code.

This shim only keeps tests written before the move working (branches not yet
merged import ``dockerkit``): it makes ``import dockerkit`` the very module
``support.dockerkit``, fixtures included. Remove it once nothing imports ``dockerkit``.
"""

import sys

from support import dockerkit as _moved

sys.modules[__name__] = _moved
