"""Plain ``flaml.AutoML`` on one task: fit on the train rows, score the test rows; prints one JSON line.

Run by ``run.py`` in its own process (the same interpreter, environment and thread settings as
``tesla train``), so both sides pay the same imports and start-up.

    python flaml_baseline.py --train train.parquet --test test.parquet --target target \
        --task binary --metric log_loss --budget 10 --seed 0 [--estimators lgbm rf ...]
"""

from __future__ import annotations

import argparse
import json
import time

STARTED = time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--task", required=True, choices=["binary", "multiclass", "regression"])
    ap.add_argument("--metric", required=True)
    ap.add_argument("--budget", type=float, required=True, help="seconds; -1: no time limit (use --max-iter)")
    ap.add_argument("--max-iter", type=int, default=None, help="trials; default: unbounded")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drop", nargs="*", default=[])
    ap.add_argument("--estimators", nargs="*", default=None, help="FLAML's estimator_list; default: FLAML's own")
    ap.add_argument("--save-pred", default=None, help="save the test predictions (.npy: values or probabilities)")
    args = ap.parse_args()

    import pandas as pd
    from flaml import AutoML

    from score import score  # the one scorer both sides share

    train, test = pd.read_parquet(args.train), pd.read_parquet(args.test)
    features = [c for c in train.columns if c != args.target and c not in args.drop]
    automl = AutoML()
    fit_started = time.perf_counter()
    automl.fit(train[features], train[args.target], task="regression" if args.task == "regression" else "classification",
               metric=args.metric, time_budget=args.budget, seed=args.seed, n_jobs=1, verbose=0,
               estimator_list=args.estimators or "auto", max_iter=args.max_iter)
    fit_s = time.perf_counter() - fit_started
    classes = None if args.task == "regression" else [str(c) for c in automl.classes_]
    if args.task == "regression":
        pred = automl.predict(test[features])
        scores = score(args.task, test[args.target], pred, None, None)
    else:
        pred = automl.predict_proba(test[features])
        scores = score(args.task, test[args.target], None, pred, classes)
    if args.save_pred:
        import numpy as np

        np.save(args.save_pred, np.asarray(pred, dtype="float64"))
    print(json.dumps({"scores": scores, "fit_s": fit_s, "wall_s": time.perf_counter() - STARTED,
                      "best_estimator": automl.best_estimator, "classes": classes}))


if __name__ == "__main__":
    main()
