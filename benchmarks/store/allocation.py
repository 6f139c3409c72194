"""How often concurrent writers retry a version allocation: N processes x M dataset versions into one dataset.

    TESLA_DB_URL=... [NO_LOCK=1] python benchmarks/store/allocation.py [PROCESSES] [EACH]

NO_LOCK=1 drops PostgreSQL's advisory lock: the retry on a taken number alone.

Prints the backend, versions written, versions expected, attempts (1 per version = no retry) and wall time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path


def _writer(root: str, each: int, worker: int, start: mp.Event, out: mp.Queue) -> None:
    from tesla.store import Store, metadata

    attempts = 0
    original = metadata.allocating

    def counting(engine, work, lock=None):  # noqa: ANN001, ANN202
        def counted(c):  # noqa: ANN001, ANN202
            nonlocal attempts
            attempts += 1
            return work(c)
        return original(engine, counted, lock=None if os.environ.get("NO_LOCK") else lock)

    metadata.allocating = counting
    store = Store.open(root)
    start.wait()
    for n in range(each):
        store.add_dataset_version("d", sha256=f"{worker}-{n}", format="csv", source="x", rows=1, schema={},
                                  target=None)
    out.put(attempts)


def main() -> None:
    procs, each = (int(a) for a in (sys.argv[1:] + ["8", "25"])[:2])
    from tesla import api

    root = str(api.init_project(Path(tempfile.mkdtemp()) / "p"))
    from tesla.store import Store

    Store.open(root).engine.dispose()
    start, out = mp.Event(), mp.Queue()
    workers = [mp.Process(target=_writer, args=(root, each, w, start, out)) for w in range(procs)]
    for w in workers:
        w.start()
    time.sleep(3)  # every writer has opened the store
    t0 = time.perf_counter()
    start.set()
    attempts = sum(out.get() for _ in workers)
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    log = Store.open(root).dataset_log("d")
    versions = sorted(v.version for v in log)
    assert versions == list(range(1, procs * each + 1)), "versions lost or duplicated"
    backend = (os.environ.get("TESLA_DB_URL") or "sqlite").split(":")[0]
    backend += " (retry only)" if os.environ.get("NO_LOCK") and backend == "postgresql" else ""
    print(f"{backend}: {len(versions)} versions of {procs * each}, {attempts} attempts, {wall:.2f} s, "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
