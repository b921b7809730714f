"""Two app-wide actions on one key: only one of them can ever run.

The scenario picker and "stop the environment" both took ``X`` when they were built
side by side; pressing it for a scenario asked to stop everyone's environment.
"""

from __future__ import annotations

from collections import defaultdict

from stagedeck.tui.app import StagedeckApp


def test_every_app_wide_key_belongs_to_one_action() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for binding in StagedeckApp.BINDINGS:
        key, action = (binding.key, binding.action) if hasattr(binding, "key") else binding[:2]
        for one in str(key).split(","):
            owners[one.strip()].add(str(action))
    shared = {key: sorted(actions) for key, actions in owners.items() if len(actions) > 1}
    assert shared == {}, f"keys bound to more than one action: {shared}"
