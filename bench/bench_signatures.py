"""Issue 12 item 7: does a failure keep its identity (signature) from one run to the next?

For each fault case (a fault kind on one demo service), two runs, each on a FRESH
demo (new ports, new request ids, new timestamps), seeded and then broken the
same way, both recorded by the real ``stagedeck run`` into one SQLite file. After
run 1 every failure is annotated (through the store); after run 2 ``stagedeck
failures --json`` says, for each failure of a test that also failed in run 1,
whether its signature is run 1's and whether run 1's note shows.

The same messages are also signed offline by the frozen v1 algorithm
(``tests/support/signature_v1.py``), for the before/after figure.

It checks the other direction too: for one test, two DIFFERENT fault cases (say
payments erroring vs. inventory erroring) should not share a signature; pairs
that do are listed (some are honestly indistinguishable from what the test saw,
e.g. a hang and a 3.5 s slowdown both end in "timed out after 3s").

    python bench/bench_signatures.py [--faults errors,crash] [--services payments]
                                     [--save tests/data/failure_corpus.json]
    python bench/bench_signatures.py --corpus tests/data/failure_corpus.json
        (no runs: sign a saved corpus with v1 and with the current algorithm)
    python bench/bench_signatures.py --corpus tests/data/failure_corpus.json --migration 20000
        (time the v1 -> v2 store migration of that many stored failures)
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import signature_v1  # noqa: E402
from faultruns import FAULTS, evidence, failing_frame, run_once  # noqa: E402

from stagedeck.store import Store  # noqa: E402
from stagedeck.store.signature import failure_signature  # noqa: E402

SERVICES = ("payments", "inventory", "ledger", "orders", "gateway", "worker")
HANG_SERVICES = ("payments", "inventory", "ledger", "worker")
"""A hung orders or gateway stalls every test for its full client timeout: minutes per run."""
LATENCY_SERVICES = ("payments", "inventory", "ledger")

Case = dict[str, Any]
"""{"fault", "service", "runs": [[{"test_id", "message", "traceback", "signature"?, ...}] x2]}"""


def todo(faults: list[str], services: list[str]) -> list[tuple[str, str]]:
    out = []
    for fault in faults:
        if fault in ("data", "unseeded"):
            out.append((fault, "inventory"))
            continue
        for service in services:
            if fault == "hang" and service not in HANG_SERVICES:
                continue
            if fault == "latency" and service not in LATENCY_SERVICES:
                continue
            if fault in ("errors50", "unhealthy") and service not in ("payments", "inventory"):
                continue
            out.append((fault, service))
    return out


def capture(fault: str, service: str, tmp: Path) -> Case:
    """Two runs of one fault into one file, run 1 annotated in between."""
    name = f"{fault}:{service}"
    db = tmp / f"{fault}-{service}.db"
    first = run_once(tmp / name / "1", db, fault, service)
    with Store.open(db) as store:
        for sig in sorted({f.signature for f in first}):
            test = next(f.test_id for f in first if f.signature == sig)
            store.add_annotation(sig, test, "demo", "bench", "known", f"{name}: seen in run 1")
    second = run_once(tmp / name / "2", db, fault, service)
    return {
        "fault": fault,
        "service": service,
        "runs": [
            [
                {
                    "test_id": f.test_id,
                    "message": f.message,
                    "traceback": failing_frame(f.traceback),
                    "signature": f.signature,
                    "noted": any(name in a["note"] for a in f.annotations),
                }
                for f in run
            ]
            for run in (first, second)
        ],
    }


Signer = Callable[[dict[str, Any]], str]


def live(f: dict[str, Any]) -> str:
    return str(f["signature"])


def v1(f: dict[str, Any]) -> str:
    return signature_v1.failure_signature(f["test_id"], f["message"])


def v2(f: dict[str, Any]) -> str:
    return failure_signature(f["test_id"], f["message"], f["traceback"])


def matched(case: Case, sign: Signer) -> tuple[int, int]:
    """(run-2 failures whose test failed in run 1, of those with run 1's signature)."""
    first, second = case["runs"]
    before = {f["test_id"]: sign(f) for f in first}
    both = [f for f in second if f["test_id"] in before]
    return len(both), sum(sign(f) == before[f["test_id"]] for f in both)


def merges(cases: list[Case], sign: Signer) -> tuple[int, list[tuple[str, str, str]]]:
    """Pairs of different fault cases giving one test one signature: (all such pairs,
    those whose evidence differs, i.e. the output told them apart and the signature
    did not)."""
    where: dict[tuple[str, str], dict[str, tuple[object, ...]]] = defaultdict(dict)
    for case in cases:
        for run in case["runs"]:
            for f in run:
                name = f"{case['fault']}:{case['service']}"
                where[(f["test_id"], sign(f))].setdefault(name, evidence(f))
    total, wrong = 0, []
    for (test, _), names in sorted(where.items()):
        for (a, ea), (b, eb) in itertools.combinations(sorted(names.items()), 2):
            total += 1
            if ea != eb:
                wrong.append((test, a, b))
    return total, wrong


def pct(n: int, d: int) -> str:
    return f"{n:3}/{d:3} = {100 * n / d:5.1f}%" if d else "      -        "


def report(cases: list[Case], signers: dict[str, Signer]) -> None:
    kinds = list(dict.fromkeys(c["fault"] for c in cases))
    print("\nshare of run-2 failures (test also failed in run 1) with run 1's signature")
    print(f"  {'fault':8} " + "  ".join(f"{name:>15}" for name in signers))
    for kind in [*kinds, "all"]:
        chosen = [c for c in cases if kind in ("all", c["fault"])]
        cells = []
        for sign in signers.values():
            both = same = 0
            for case in chosen:
                b, s = matched(case, sign)
                both, same = both + b, same + s
            cells.append(pct(same, both))
        print(f"  {kind:8} " + "  ".join(cells))
    if "live" in signers:
        both = noted = 0
        for case in cases:
            first_tests = {f["test_id"] for f in case["runs"][0]}
            for f in case["runs"][1]:
                if f["test_id"] in first_tests:
                    both += 1
                    noted += bool(f.get("noted"))
        print(f"  run 1's note shown on run 2 (stagedeck failures --json): {pct(noted, both)}")
    print("\none test, two different fault cases, one signature (pairs)")
    for name, sign in signers.items():
        total, wrong = merges(cases, sign)
        print(f"  {name}: {total}, of which the test's output told apart: {len(wrong)}")
        for test, a, b in wrong:
            print(f"    {test}: {a} = {b}")


def migration_speed(corpus: Path, rows: int) -> None:
    """Time the v2 migration of a schema-1 file holding ``rows`` failures.

    The corpus is cycled, each copy given its own request id so that no two stored
    messages are alike (the worst case: the migration signs each message once).
    """
    from stagedeck.store import TestResult
    from stagedeck.store import connection as store_connection
    from stagedeck.store.migrations import MIGRATIONS

    failures = [f for c in json.loads(corpus.read_text())["cases"] for r in c["runs"] for f in r]
    with tempfile.TemporaryDirectory(prefix="bench-sig-") as tmp:
        path = Path(tmp) / "v1.db"
        saved = store_connection.MIGRATIONS, store_connection.SCHEMA_VERSION
        store_connection.MIGRATIONS, store_connection.SCHEMA_VERSION = MIGRATIONS[:1], 1
        try:
            with Store.open(path) as store:
                for start in range(0, rows, 1000):
                    run = store.start_run("demo", "bench")
                    suite = store.start_suite_run(run, "flows")
                    batch = [
                        {
                            **failures[i % len(failures)],
                            "message": f"{failures[i % len(failures)]['message']} rid=t{i:09x}",
                        }
                        for i in range(start, start + 1000)
                    ]
                    store.add_test_results(
                        suite,
                        [
                            TestResult(
                                f["test_id"],
                                "failed",
                                message=f["message"],
                                traceback=f["traceback"],
                                signature=v1(f),
                            )
                            for f in batch[: rows - start]
                        ],
                    )
                    store.add_annotation(
                        v1(batch[0]), batch[0]["test_id"], "demo", "b", "known", "x"
                    )
        finally:
            store_connection.MIGRATIONS, store_connection.SCHEMA_VERSION = saved
        t0 = time.perf_counter()
        with Store.open(path) as store:
            elapsed = time.perf_counter() - t0
            assert store.schema_version() == len(MIGRATIONS)
        print(
            f"v1 -> v2 migration of {rows} stored failures: {elapsed:.2f} s "
            f"({rows / elapsed:.0f} failures/s), write lock held throughout"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--save", type=Path, help="write the captured failures (a test corpus)")
    parser.add_argument("--corpus", type=Path, help="no runs: sign this saved corpus")
    parser.add_argument(
        "--migration", type=int, metavar="ROWS", help="with --corpus: time migrating ROWS"
    )
    args = parser.parse_args()
    if args.corpus and args.migration:
        migration_speed(args.corpus, args.migration)
        return 0
    if args.corpus:
        cases = json.loads(args.corpus.read_text())["cases"]
        report(cases, {"v1": v1, "v2 (current)": v2})
        return 0
    cases = []
    with tempfile.TemporaryDirectory(prefix="bench-sig-") as tmp:
        for fault, service in todo(args.faults.split(","), args.services.split(",")):
            t0 = time.monotonic()
            case = capture(fault, service, Path(tmp))
            cases.append(case)
            first, second = case["runs"]
            both, same = matched(case, live)
            print(
                f"{fault + ':' + service:20} run1 {len(first):2} failed, run2 {len(second):2}; "
                f"same signature {pct(same, both)}  ({time.monotonic() - t0:.0f}s)",
                flush=True,
            )
    report(cases, {"live": live, "v1": v1})
    if args.save:
        for case in cases:
            for run in case["runs"]:
                for f in run:
                    del f["signature"], f["noted"]
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps({"cases": cases}, indent=1) + "\n")
        print(f"corpus written to {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
