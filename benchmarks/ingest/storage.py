"""Dataset version storage: content-addressed Parquet snapshots (what Tesla stores) against Delta Lake.

Two histories of ``--versions`` versions of one table, each written by both contenders:

- append-heavy: every version adds ``--append`` of the base rows at the end;
- replace-heavy: every version changes one column of ``--replace`` of the rows, spread over the table.

Snapshots write each version as one whole Parquet file named by its sha256 (as ``tesla load`` does);
Delta appends the new rows (append-heavy) or MERGEs the changed rows on ``id`` (replace-heavy).
Measured per history: the seconds to write every version, to read the newest and the first version
back as an Arrow table, and the bytes on disk. Contenders alternate A B / B A per round; the 1-minute
load average is recorded around each run. Both get the same thread settings (``--threads`` for Arrow;
delta-rs sizes its own runtime, which is noted in the README).

    .venv/bin/python benchmarks/ingest/storage.py /tmp/storage-bench --rows 400000 --versions 8 --rounds 2 \
        --out benchmarks/ingest/results-storage.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def base_table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "id": np.arange(rows, dtype=np.int64),
        "x1": rng.normal(size=rows), "x2": rng.normal(size=rows), "x3": rng.integers(0, 1000, rows),
        "cat": pa.array(rng.choice(["a", "b", "c", "d"], rows)),
        "text": pa.array([f"row {i} note {i % 97}" for i in range(rows)]),
        "y": rng.integers(0, 2, rows),
    })


def history(kind: str, base: pa.Table, versions: int, share: float, seed: int = 1) -> list[tuple[pa.Table, pa.Table]]:
    """[(the full version, what changed: the appended or the updated rows)] for each version."""
    rng = np.random.default_rng(seed)
    out = [(base, base)]
    current = base
    for v in range(1, versions):
        n = int(len(base) * share)
        if kind == "append":
            start = len(current)
            delta = base.slice(0, n).set_column(0, "id", pa.array(np.arange(start, start + n, dtype=np.int64)))
            current = pa.concat_tables([current, delta])
        else:
            rows = np.sort(rng.choice(len(current), n, replace=False))
            x1 = current.column("x1").to_numpy().copy()
            x1[rows] = rng.normal(size=n) + v
            current = current.set_column(1, "x1", pa.array(x1))
            delta = current.take(pa.array(rows))
        out.append((current, delta))
    return out


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def snapshots(root: Path, steps: list[tuple[pa.Table, pa.Table]]) -> dict[str, Any]:
    objects = root / "objects"
    objects.mkdir(parents=True)
    shas = []
    t0 = time.perf_counter()
    for full, _ in steps:
        tmp = root / "staged.parquet"
        pq.write_table(full, tmp, row_group_size=65_536)
        digest = hashlib.sha256()
        with tmp.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        sha = digest.hexdigest()
        tmp.rename(objects / sha)
        shas.append(sha)
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    newest = pq.read_table(objects / shas[-1])
    read_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = pq.read_table(objects / shas[0])
    read_old = time.perf_counter() - t0
    assert newest.num_rows == steps[-1][0].num_rows and first.num_rows == steps[0][0].num_rows
    return {"write_s": write, "read_newest_s": read_new, "read_first_s": read_old, "disk_bytes": du(objects)}


def delta(root: Path, steps: list[tuple[pa.Table, pa.Table]], kind: str) -> dict[str, Any]:
    from deltalake import DeltaTable, write_deltalake

    path = root / "delta"
    t0 = time.perf_counter()
    write_deltalake(str(path), steps[0][0])
    for _, change in steps[1:]:
        if kind == "append":
            write_deltalake(str(path), change, mode="append")
        else:
            (DeltaTable(str(path)).merge(source=change, predicate="t.id = s.id", source_alias="s", target_alias="t")
             .when_matched_update_all().execute())
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    newest = DeltaTable(str(path)).to_pyarrow_table()
    read_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = DeltaTable(str(path), version=0).to_pyarrow_table()
    read_old = time.perf_counter() - t0
    assert newest.num_rows == steps[-1][0].num_rows and first.num_rows == steps[0][0].num_rows
    return {"write_s": write, "read_newest_s": read_new, "read_first_s": read_old, "disk_bytes": du(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--versions", type=int, default=8)
    parser.add_argument("--append", type=float, default=0.05)
    parser.add_argument("--replace", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    pa.set_cpu_count(args.threads)
    pa.set_io_thread_count(args.threads)
    import deltalake

    base = base_table(args.rows)
    runs: list[dict[str, Any]] = []
    for kind, share in (("append", args.append), ("replace", args.replace)):
        steps = history(kind, base, args.versions, share)
        for r in range(args.rounds):
            order = ["snapshots", "delta"] if r % 2 == 0 else ["delta", "snapshots"]
            for who in order:
                root = args.workdir / f"{kind}-{who}-{r}"
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
                before = os.getloadavg()[0]
                result = snapshots(root, steps) if who == "snapshots" else delta(root, steps, kind)
                runs.append({"history": kind, "contender": who, "round": r, **result,
                             "load_before": before, "load_after": os.getloadavg()[0]})
                print(json.dumps(runs[-1]))
                shutil.rmtree(root, ignore_errors=True)
    report = {"rows": args.rows, "versions": args.versions, "append_share": args.append,
              "replace_share": args.replace, "threads": args.threads, "cpus": os.cpu_count(),
              "pyarrow": pa.__version__, "deltalake": deltalake.__version__, "runs": runs}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
