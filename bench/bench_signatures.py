"""Issue 12 item 7: does a failure keep its identity (signature) from one run to the next?

For each fault case (a fault kind on one demo service), two runs, each on a FRESH
demo (new ports, new request ids, new timestamps), seeded and then broken the
same way, both recorded by the real ``stagedeck run`` into one SQLite file. After
run 1 every failure is annotated; after run 2 we count, among tests that failed
in both runs, how many got the same signature and how many show run 1's note.

It also checks the other direction: for one test, two DIFFERENT faults (say
payments erroring vs. inventory erroring) must not share a signature; pairs that
do are listed (some are honestly indistinguishable from the message alone, e.g.
a hang and a 3.5 s slowdown both read "timed out after 3s").

    python bench/bench_signatures.py [--faults errors,crash] [--services payments]
                                     [--save tests/data/failure_corpus.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from faultruns import FAULTS, Failure, failing_frame, run_once  # noqa: E402

from stagedeck.store import Store  # noqa: E402

SERVICES = ("payments", "inventory", "ledger", "orders", "gateway", "worker")
HANG_SERVICES = ("payments", "inventory", "ledger", "worker")
"""A hung orders or gateway stalls every test for its full client timeout: minutes per run."""


def cases(faults: list[str], services: list[str]) -> list[tuple[str, str]]:
    out = []
    for fault in faults:
        if fault == "data":
            out.append(("data", "inventory"))
            continue
        for service in services:
            if fault == "hang" and service not in HANG_SERVICES:
                continue
            if fault == "latency" and service not in ("payments", "inventory", "ledger"):
                continue
            out.append((fault, service))
    return out


def annotate_all(db: Path, failures: list[Failure], label: str) -> None:
    with Store.open(db) as store:
        for sig in sorted({f.signature for f in failures}):
            test = next(f.test_id for f in failures if f.signature == sig)
            store.add_annotation(sig, test, "demo", "bench", "known", f"{label}: seen in run 1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--save", type=Path, help="write the captured messages (a test corpus)")
    args = parser.parse_args()
    todo = cases(args.faults.split(","), args.services.split(","))
    corpus: list[dict[str, object]] = []
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    # kind -> [failures in run 2 whose test also failed in run 1, same signature, annotated, all]
    by_test: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    with tempfile.TemporaryDirectory(prefix="bench-sig-") as tmp:
        for fault, service in todo:
            case = f"{fault}:{service}"
            db = Path(tmp) / f"{fault}-{service}.db"
            t0 = time.monotonic()
            first = run_once(Path(tmp) / case / "1", db, fault, service)
            annotate_all(db, first, case)
            second = run_once(Path(tmp) / case / "2", db, fault, service)
            before = {f.test_id: f.signature for f in first}
            both = [f for f in second if f.test_id in before]
            same = [f for f in both if f.signature == before[f.test_id]]
            noted = [f for f in both if any(case in a["note"] for a in f.annotations)]
            counts = per_kind[fault]
            for i, n in enumerate((len(both), len(same), len(noted), len(second))):
                counts[i] += n
            for f in first + second:
                by_test[f.test_id][f.signature].add(case)
            share = f"{len(same)}/{len(both)}" if both else "-"
            print(
                f"{case:20} run1 {len(first):2} failed, run2 {len(second):2}; "
                f"same signature {share}, run-1 note shown {len(noted)}/{len(both)}  "
                f"({time.monotonic() - t0:.0f}s)",
                flush=True,
            )
            for f in both:
                if f.signature != before[f.test_id]:
                    old = next(x for x in first if x.test_id == f.test_id)
                    print(f"    DIFFERS {f.test_id}\n      1: {old.message[:300]!r}")
                    print(f"      2: {f.message[:300]!r}")
            corpus.append(
                {
                    "fault": fault,
                    "service": service,
                    "runs": [
                        [
                            {
                                "test_id": f.test_id,
                                "message": f.message,
                                "traceback": failing_frame(f.traceback),
                                "signature": f.signature,
                            }
                            for f in run
                        ]
                        for run in (first, second)
                    ],
                }
            )
    print("\nper fault kind: failures of run 2 (test also failed in run 1) with the same signature")
    total = [0, 0, 0, 0]
    for fault, (both_n, same_n, noted_n, all_n) in per_kind.items():
        total = [a + b for a, b in zip(total, (both_n, same_n, noted_n, all_n), strict=True)]
        pct = 100 * same_n / both_n if both_n else float("nan")
        print(f"  {fault:8} {same_n:3}/{both_n:3} = {pct:5.1f}%  (note shown {noted_n}/{both_n})")
    pct = 100 * total[1] / total[0] if total[0] else float("nan")
    print(
        f"  {'all':8} {total[1]:3}/{total[0]:3} = {pct:5.1f}%  (note shown {total[2]}/{total[0]})"
    )
    merged = []
    for test, sigs in by_test.items():
        for where in sigs.values():
            for a, b in itertools.combinations(sorted(where), 2):
                merged.append((test, a, b))
    print(f"\ndifferent fault cases sharing one signature for the same test: {len(merged)}")
    for test, a, b in merged:
        print(f"  {test}: {a} = {b}")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps({"cases": corpus}, indent=1) + "\n")
        print(f"corpus written to {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
