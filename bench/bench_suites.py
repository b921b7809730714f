"""Issue 4's figures: overhead of the live pytest plugin, and how soon a failure is known.

1. A generated 500-test pytest suite, run with and without stagedeck's live plugin
   (as SuiteRunner injects it: ``-p stagedeck_pytest_live`` with a pipe to read).
2. Time from a test failing (the test writes the moment it fails) to SuiteRunner's
   progress saying so; the suites view repaints within its 0.25 s tick after that.

    python bench/bench_suites.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from stagedeck.recipe.model import load_recipe
from stagedeck.suites.runner import SuiteProgress, SuiteRunner

PLUGIN = Path(__file__).resolve().parent.parent / "src" / "stagedeck" / "suites" / "pytest_live.py"


def make_suite(folder: Path, n: int = 500) -> Path:
    body = ["import pytest", ""]
    body += [f"def test_{i:03d}():\n    assert {i} * 2 == {i * 2}\n" for i in range(n)]
    path = folder / "test_many.py"
    path.write_text("\n".join(body))
    return path


def run_pytest(folder: Path, live: bool) -> float:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_many.py"]
    reader = None
    if live:
        plugin_dir = folder / "plugin"
        plugin_dir.mkdir(exist_ok=True)
        shutil.copyfile(PLUGIN, plugin_dir / "stagedeck_pytest_live.py")
        r, w = os.pipe()
        env["STAGEDECK_LIVE_FD"] = str(w)
        env["PYTHONPATH"] = str(plugin_dir)
        args[3:3] = ["-p", "stagedeck_pytest_live"]

        def drain() -> None:
            with os.fdopen(r, "rb") as f:
                for _ in f:
                    pass

        reader = threading.Thread(target=drain)
        reader.start()
    start = time.perf_counter()
    subprocess.run(
        args, cwd=folder, env=env, check=True, capture_output=True, pass_fds=(w,) if live else ()
    )
    took = time.perf_counter() - start
    if live:
        os.close(w)
        assert reader is not None
        reader.join()
    return took


async def failure_latency(folder: Path) -> list[float]:
    stamp = folder / "failed_at"
    (folder / "test_fail.py").write_text(
        textwrap.dedent("""
        import time

        def test_slow_then_fail_{i}():
            pass
        """).replace("{i}", "0")
        + "".join(
            textwrap.dedent(f"""
            def test_fail_{i}():
                time.sleep(0.2)
                open({str(stamp)!r} + "{i}", "w").write(repr(time.time()))
                assert False, "boom {i}"
            """)
            for i in range(5)
        )
    )
    recipe = folder / "r.toml"
    recipe.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "bench"
        [suites.fail]
        command = ["{{python}}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_fail.py", "--junitxml={{junit}}"]
        cwd = "{folder}"
        env = {{ PYTEST_DISABLE_PLUGIN_AUTOLOAD = "1" }}
        """)
    )
    seen: dict[int, float] = {}

    def on_change(p: SuiteProgress) -> None:
        if p.failed and p.failed not in seen:
            seen[p.failed] = time.time()

    runner = SuiteRunner(load_recipe(recipe), workdir=folder / "work", on_change=on_change)
    await runner.run("fail")
    delays = []
    for i in range(5):
        failed_at = float((folder / f"failed_at{i}").read_text())
        delays.append(seen[i + 1] - failed_at)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_suite(folder)
        run_pytest(folder, False)  # warm caches
        plain: list[float] = []
        live: list[float] = []
        for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
            plain.append(run_pytest(folder, False))
            live.append(run_pytest(folder, True))
        delays = asyncio.run(failure_latency(folder))
    p, lv = statistics.median(plain), statistics.median(live)
    print(f"500-test pytest suite, {args.runs} runs each (median wall time)")
    print(f"  without live plugin   {p:6.3f} s")
    print(
        f"  with live plugin      {lv:6.3f} s   overhead {lv - p:+.3f} s ({(lv / p - 1) * 100:+.1f} %)"
    )
    print("time from a test failing to SuiteRunner knowing (5 failures)")
    print(
        f"  median {statistics.median(delays) * 1000:6.1f} ms   max {max(delays) * 1000:6.1f} ms"
        "   (+ up to 250 ms for the suites view's repaint tick)"
    )


if __name__ == "__main__":
    main()
