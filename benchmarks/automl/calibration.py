"""What temperature scaling could buy Tesla's probabilities: an upper bound from its saved test predictions.

For each classification task of a ``suite.py`` run, the temperature T (probabilities p -> softmax(log p / T))
is fitted on one random half of the test rows and the log loss measured on the other half, then the halves
swap. Fitting on rows of the test distribution itself is more than a validation-fitted calibrator inside
``tesla train`` could do, so the gain printed is a ceiling, not a forecast.

    .venv/bin/python benchmarks/automl/calibration.py --results budget_30s_after.json \\
        --pred /tmp/w/budget_30s_after_pred --workdir /tmp/w   # the suite's --out _pred folder and --workdir
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

HERE = Path(__file__).resolve().parent


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))


def _scaled(p: np.ndarray, t: float) -> np.ndarray:
    z = np.log(np.clip(p, 1e-15, 1)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True, help="a suite.py result file (relative: next to this script)")
    ap.add_argument("--pred", type=Path, required=True, help="its predictions folder (<out>_pred)")
    ap.add_argument("--workdir", type=Path, required=True, help="its --workdir (each task's test.parquet)")
    ap.add_argument("--variant", default="tesla")
    args = ap.parse_args()
    from suite import TASKS  # the targets

    ratios = []
    for r in json.loads((HERE / args.results).read_text())["results"]:
        if r["variant"] != args.variant or r["kind"] == "regression" or r.get("error"):
            continue
        task, classes = r["task"], r["classes"]
        p = np.load(args.pred / task / f"{args.variant}-s{r['seed']}.npy")
        test = pd.read_parquet(args.workdir / task / "test.parquet")
        y = np.array([classes.index(str(v)) for v in test[TASKS[task][1]].astype(str)])
        order = np.random.default_rng(0).permutation(len(y))
        halves = (order[: len(y) // 2], order[len(y) // 2:])
        before, after = [], []
        for fit, score in (halves, halves[::-1]):
            t = minimize_scalar(lambda t, f=fit: _log_loss(_scaled(p[f], t), y[f]), bounds=(0.2, 5.0),
                                method="bounded").x
            before.append(_log_loss(p[score], y[score]))
            after.append(_log_loss(_scaled(p[score], t), y[score]))
        ratio = float(np.mean(before) / np.mean(after))
        ratios.append(ratio)
        print(f"| {task} | {np.mean(before):.4f} | {np.mean(after):.4f} | {ratio:.3f} |")
    print(f"geometric mean {math.exp(np.mean(np.log(ratios))):.3f} over {len(ratios)} tasks")


if __name__ == "__main__":
    main()
