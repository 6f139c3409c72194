"""Paired bootstrap of `tesla review`: vectorised counts x rows (tesla.evaluation.compare) against the plain loop
(`compute_metrics` on each resample's rows, what a first version did), same data, same thread settings.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/review/bootstrap.py

Interleaved A/B/A/B; prints one Markdown row per size with the machine's load average.
"""

from __future__ import annotations

import os
import time

import numpy as np

from tesla.evaluation.compare import _scores
from tesla.evaluation.metrics import DEFAULT_METRICS, compute_metrics

METRICS = DEFAULT_METRICS["binary"]  # roc_auc, log_loss, accuracy, f1, precision, recall
RESAMPLES = 200
ROUNDS = 2


def _data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    p1 = np.clip(y * 0.6 + rng.random(n) * 0.4, 0, 1)
    proba = np.column_stack([1 - p1, p1])
    weights = rng.multinomial(n, np.full(n, 1 / n), size=RESAMPLES).astype("float64")
    return y, proba.argmax(axis=1), proba, weights


def _vectorised(y: np.ndarray, pred: np.ndarray, proba: np.ndarray, weights: np.ndarray) -> float:
    start = time.perf_counter()
    _scores("binary", METRICS, (y, pred, proba), 2, weights)
    return time.perf_counter() - start


def _loop(y: np.ndarray, pred: np.ndarray, proba: np.ndarray, weights: np.ndarray) -> float:
    start = time.perf_counter()
    for w in weights:
        idx = np.repeat(np.arange(len(y)), w.astype(int))
        compute_metrics("binary", METRICS, y[idx], pred[idx], proba[idx], 2)
    return time.perf_counter() - start


def main() -> None:
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; {RESAMPLES} resamples x "
          f"{len(METRICS)} metrics, one model; best of {ROUNDS} interleaved rounds")
    print("| rows | vectorised s | loop s | loop / vectorised | load (1, 5, 15 min) |")
    print("|---:|---:|---:|---:|---|")
    for n in (114, 2000, 20000):
        data = _data(n)
        a, b = [], []
        for _ in range(ROUNDS):  # A/B/A/B
            a.append(_vectorised(*data))
            b.append(_loop(*data))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"| {n} | {min(a):.4f} | {min(b):.3f} | {min(b) / min(a):.0f}x | {load} |")


if __name__ == "__main__":
    main()
