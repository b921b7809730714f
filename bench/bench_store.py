"""The store's figure: annotation writes per second, eight processes writing at once.

Eight cockpits on one shared host, each writing annotations as fast as it can into
one SQLite file (WAL, one ``BEGIN IMMEDIATE … COMMIT`` per annotation). The clock
runs from the moment all eight are released (a barrier, after each has opened the
store) until the last one finishes. A single-process run is printed for reference.

    python bench/bench_store.py [--writers 8] [--each 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stagedeck.store import Store  # noqa: E402


def writer(db: str, index: int, each: int, barrier: Barrier) -> None:
    store = Store.open(db)
    barrier.wait()
    for seq in range(each):
        store.add_annotation(
            f"sig-{index}", f"bench::w{index}", "bench", f"writer{index}", "flaky", f"{index}:{seq}"
        )
    store.close()


def one_run(writers: int, each: int) -> float:
    """Writes per second for one run on a fresh file."""
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        Store.open(db).close()  # create and migrate outside the timed part
        barrier = ctx.Barrier(writers + 1)
        procs = [ctx.Process(target=writer, args=(db, i, each, barrier)) for i in range(writers)]
        for p in procs:
            p.start()
        barrier.wait()
        start = time.perf_counter()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - start
        if any(p.exitcode != 0 for p in procs):
            raise SystemExit("a writer failed")
        with Store.open(db) as store:
            (count,) = store._read(
                lambda d: d.conn.execute("SELECT count(*) FROM annotations").fetchone()
            )
            assert count == writers * each, f"lost writes: {count} != {writers * each}"
            assert store.integrity_check() == ["ok"]
    return writers * each / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--each", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    single = [one_run(1, args.each) for _ in range(args.runs)]
    multi = [one_run(args.writers, args.each) for _ in range(args.runs)]
    print(f"1 writer process:  {statistics.median(single):7.0f} annotation writes/s (median)")
    print(
        f"{args.writers} writer processes: {statistics.median(multi):7.0f} annotation writes/s "
        f"(median of {args.runs}; runs {', '.join(f'{r:.0f}' for r in multi)}; "
        f"{args.writers * args.each} writes each run)"
    )


if __name__ == "__main__":
    main()
