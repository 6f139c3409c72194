"""Trials per second and time to a target loss for 1, 2, ... concurrent FLAML trials on a local Ray cluster.

    python benchmarks/scale/bench_trials.py --address 127.0.0.1:6379 --workers 1 2 --repeats 2 --trials 16

Each measurement is one ``tesla.automl.adapter.search`` (what the search step runs) on the
breast-cancer set, ``n_concurrent_trials = W``, connected to the cluster at ``--address``
(start one with ``ray start --head --num-cpus=N``). Runs are interleaved (W=1, W=2, W=1, W=2,
...) so machine load drifts alike over every side, and every side gets the same thread
settings (OMP/MKL/OpenBLAS = 1, ``n_jobs=1`` per trial). ``W = 1`` is the sequential search,
in-process and without Ray: the real alternative. The load average is recorded around each run.
Output: one JSON line per run, then a summary table (medians) and the fitted scaling model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"


def _data() -> tuple[Any, Any]:
    from tesla.testing import datasets

    df = datasets.breast_cancer()
    return df.drop(columns=["target"]), (df["target"] == "malignant").astype(int)


def one_run(workers: int, trials: int, target_loss: float) -> dict[str, Any]:
    """One search; wall seconds, trials/s, and the first trial's wall clock at which best loss <= target."""
    from tesla.automl.adapter import search

    X, y = _data()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = search(X, y, task="binary", estimators=["lgbm", "rf", "extra_tree"], metric="log_loss",
                        max_iter=trials, time_budget_s=None, eval_method="holdout", n_splits=5, ensemble=False,
                        seed=0, n_jobs=1, workdir=Path(tmp), n_concurrent_trials=workers)
        wall = time.perf_counter() - started
    reached = [t["wall_s"] for t in result.trials if t["best_loss"] is not None and t["best_loss"] <= target_loss]
    trial_s = [t["trial_s"] for t in result.trials if t.get("trial_s")]
    return {"workers": workers, "trials": len(result.trials), "wall_s": round(wall, 2),
            "trials_per_s": round(len(result.trials) / wall, 3), "best_loss": round(result.best_loss, 5),
            "time_to_target_s": round(min(reached), 2) if reached else None,
            "median_trial_s": round(statistics.median(trial_s), 3) if trial_s else None,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def fit_model(rows: list[dict[str, Any]]) -> dict[str, float]:
    """T(W) = n * (t + o) / W + c: per-trial work t, per-trial Ray overhead o, fixed start-up c.

    Fitted from the medians: W=1 (no Ray) gives n*t + c0; each W>1 point gives one equation in
    (t+o) and c. With two Ray points the pair is solved; with one, c is taken as the W=1 remainder.
    """
    by_w: dict[int, float] = {}
    for w in sorted({r["workers"] for r in rows}):
        by_w[w] = statistics.median(r["wall_s"] for r in rows if r["workers"] == w)
    n = statistics.median(r["trials"] for r in rows)
    ray_points = sorted(w for w in by_w if w > 1)
    if len(ray_points) >= 2:
        w1, w2 = ray_points[:2]
        per = (by_w[w1] - by_w[w2]) / (n / w1 - n / w2)  # t + o
        fixed = by_w[w1] - n * per / w1
    else:
        per, fixed = by_w[1] / n, 0.0
        if ray_points:
            fixed = by_w[ray_points[0]] - n * per / ray_points[0]
    return {"trials": n, "per_trial_s": round(per, 3), "fixed_s": round(fixed, 2),
            **{f"wall_s_w{w}": round(v, 2) for w, v in by_w.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", required=True, help="the Ray cluster (HOST:PORT)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--target-loss", type=float, default=0.12)
    args = ap.parse_args(argv)
    import ray

    rows = []
    for workers in args.workers:  # warm-up, not recorded: first imports, Ray's first workers
        if workers > 1 and not ray.is_initialized():
            ray.init(address=args.address, log_to_driver=False)
        one_run(workers, min(args.trials, 4), args.target_loss)
    for _ in range(args.repeats):
        for workers in args.workers:  # interleaved: A/B/A/B
            if workers > 1 and not ray.is_initialized():
                ray.init(address=args.address, log_to_driver=False)
            if workers == 1 and ray.is_initialized():
                ray.shutdown()  # the sequential search runs as it does without Ray
            row = one_run(workers, args.trials, args.target_loss)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"model": fit_model(rows), "cpus": os.cpu_count()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
