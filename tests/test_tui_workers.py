"""A failed worker is reported once: a notification naming the action, the traceback in the log file."""

from __future__ import annotations

import json
from pathlib import Path

from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.lifecycle import log_file, open_log_file
from support.apps import offline_engine
from support.wait import wait_until


async def test_a_failed_worker_is_named_to_the_user_and_its_traceback_logged(
    tmp_path: Path,
) -> None:
    engine = offline_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    body = json.dumps({"errors": ["upstream 503"], "request_id": "req-7f3a"})

    async def redeploy_that_breaks() -> None:
        raise RuntimeError(f"orders: unexpected answer {body}")

    path = tmp_path / "state" / "cockpit.log"
    close = open_log_file(path)
    try:
        assert log_file() == path
        async with app.run_test(size=(100, 30)) as pilot:
            app.run_worker(
                redeploy_that_breaks(),
                name="redeploy orders",
                group="actions",
                exit_on_error=False,
            )

            def said() -> list[str]:
                return [n.message for n in app._notifications]

            await wait_until(lambda: any("failed" in m for m in said()), pilot=pilot)
            (message,) = [m for m in said() if "failed" in m]
            assert message.startswith("redeploy orders failed: RuntimeError: orders: unexpected")
            assert body in message  # markup=False: the brackets of a JSON body are kept
            assert f"traceback in {path}" in message
            assert app.is_running  # the cockpit carries on
    finally:
        close()
    assert log_file() is None
    text = path.read_text()
    assert "ERROR stagedeck.tui: redeploy orders failed" in text
    assert "Traceback (most recent call last)" in text
    assert "in redeploy_that_breaks" in text
