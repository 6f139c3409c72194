"""`tesla load` of a generated mixed-type CSV against pyarrow's streaming CSV -> Parquet, interleaved.

Generates (once, into WORKDIR, never into git) a CSV of ``--gb`` GB: 27 columns — 14 float
features, 6 integer features (one a 0/1 flag), a 5-level categorical, a 40-level categorical, a
high-cardinality id string, a boolean word column, a date, a few free-text words, and a yes/no
target — with missing values in a third of the columns. Then, round by round, runs each contender
as a new process and records wall time and its peak RSS (of that one
process, from ``/usr/bin/time``):

- ``pyarrow``: ``pyarrow.csv.open_csv`` + ``pyarrow.parquet.ParquetWriter``, one row group per
  batch, pyarrow's defaults (1 MB blocks, as Tesla reads) — the anchor;
- ``tesla``: ``tesla load -d FILE -o bench --target churn`` (this checkout's CLI), in a fresh project;
- ``before`` (optional, ``--before-tesla PATH``): the same command with another install (today's main).

Load averages are recorded before and after each run; the machine may be shared, so only ratios
within a round mean much. Results go to ``--out`` (JSON) and stdout.

Usage: python benchmarks/ingest/run.py /tmp/ingest-bench --gb 1.0 --rounds 2 [--before-tesla /work/main/.venv/bin/tesla]
Quick rerun: python benchmarks/ingest/run.py /tmp/ingest-bench-100 --gb 0.1 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESLA = Path(sys.executable).with_name("tesla")

PYARROW_BASELINE = """
import sys, pyarrow.csv as pc, pyarrow.parquet as pq
reader = pc.open_csv(sys.argv[1], read_options=pc.ReadOptions())  # pyarrow defaults: 1 MB blocks
with pq.ParquetWriter(sys.argv[2], reader.schema) as writer:
    for batch in reader:
        writer.write_batch(batch)
"""


def generate(path: Path, gb: float, seed: int = 0) -> dict[str, Any]:
    """Write the CSV in chunks with pyarrow (fast, bounded memory); return its size and row count."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pc

    rng = np.random.default_rng(seed)
    chunk, rows, target = 200_000, 0, int(gb * 1e9)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    regions = np.array([f"region-{i:02d}" for i in range(40)])
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        first = True
        while out.tell() < target:
            n = chunk
            cols: dict[str, Any] = {}
            for i in range(14):
                values = rng.normal(loc=i, scale=1 + i, size=n).round(4)
                mask = rng.random(n) < 0.03 if i % 3 == 0 else None
                cols[f"f{i:02d}"] = pa.array(values, mask=mask)
            for i in range(5):
                values = rng.integers(0, 10 ** (i + 1), n)
                cols[f"n{i}"] = pa.array(values, mask=rng.random(n) < 0.02 if i == 2 else None)
            cols["flag"] = pa.array(rng.integers(0, 2, n))
            cols["plan"] = pa.array(rng.choice(["basic", "plus", "pro", "team", "enterprise"], n),
                                    mask=rng.random(n) < 0.05)
            cols["region"] = pa.array(rng.choice(regions, n))
            cols["customer_id"] = pa.array([f"C{rows + j:09d}" for j in range(n)])
            cols["autopay"] = pa.array(rng.choice(["true", "false"], n))
            days = rng.integers(0, 3650, n).astype("timedelta64[D]") + np.datetime64("2015-01-01")
            cols["signup_date"] = pa.array(days.astype(str), mask=rng.random(n) < 0.01)
            cols["note"] = pa.array([" ".join(p) for p in rng.choice(words, (n, 3))])
            cols["churn"] = pa.array(np.where(rng.random(n) < 0.3, "yes", "no"))
            table = pa.table(cols)
            buf = pa.BufferOutputStream()
            pc.write_csv(table, buf, pc.WriteOptions(include_header=first, quoting_style="none"))
            out.write(buf.getvalue().to_pybytes())
            rows += n
            first = False
    tmp.rename(path)
    return {"bytes": path.stat().st_size, "rows": rows, "columns": 27}


def _run(argv: list[str], cwd: Path) -> dict[str, Any]:
    """Wall time and peak RSS of one command, as ``/usr/bin/time -f %M`` reports it for that process.

    (Not ``os.wait4`` from here: a child forked from this process starts with this process's
    resident pages counted in its high-water mark, a floor of several hundred MB after generating.)
    """
    before = os.getloadavg()
    rss_file = cwd / ".maxrss"
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv], cwd=cwd, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    peak_kb = int(rss_file.read_text().split()[-1])
    rss_file.unlink()
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            "load_before": [round(x, 2) for x in before], "load_after": [round(x, 2) for x in os.getloadavg()],
            "stdout": proc.stdout.strip().splitlines()[:1]}


def contender(name: str, csv: Path, work: Path, tesla: Path) -> dict[str, Any]:
    if name == "pyarrow":
        out = work / "baseline.parquet"
        result = _run([sys.executable, "-c", PYARROW_BASELINE, str(csv), str(out)], work)
        out.unlink()
        return result
    project = work / f"proj-{name}"
    shutil.rmtree(project, ignore_errors=True)
    subprocess.run([str(tesla), "init", str(project)], check=True, capture_output=True)
    try:
        return _run([str(tesla), "load", "-d", str(csv), "-o", "bench", "--target", "churn"], project)
    finally:
        shutil.rmtree(project, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before-tesla", type=Path, help="another install's `tesla` (e.g. today's main)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv = args.workdir / f"mixed-{args.gb:g}gb.csv"
    info = {"bytes": csv.stat().st_size} if csv.exists() else generate(csv, args.gb)
    print(f"data: {csv} {info}", flush=True)
    names = ["pyarrow", "tesla"] + (["before"] if args.before_tesla else [])
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):  # A B C, then C B A
            tesla = args.before_tesla if name == "before" else TESLA
            res = contender(name, csv, args.workdir, tesla)
            runs[name].append(res)
            print(f"round {r + 1} {name:<8} {res['wall_s']:>7.2f} s  peak {res['peak_rss_mb']:>7.1f} MB  "
                  f"load {res['load_before'][0]:.2f} -> {res['load_after'][0]:.2f}", flush=True)
    summary = {n: {"median_wall_s": statistics.median(x["wall_s"] for x in v),
                   "max_peak_rss_mb": max(x["peak_rss_mb"] for x in v)} for n, v in runs.items()}
    anchor = summary["pyarrow"]["median_wall_s"]
    for n in names:
        summary[n]["time_vs_pyarrow"] = round(summary[n]["median_wall_s"] / anchor, 2)
    print(json.dumps(summary, indent=2))
    args.out.write_text(json.dumps({"data": {"path": str(csv), **info, "gb": args.gb}, "cpus": os.cpu_count(),
                                    "summary": summary, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
