"""AutoGluon ``TabularPredictor`` (``medium_quality``) on one task: fit the train rows, predict the test rows.

Run by ``suite.py`` with the interpreter of AutoGluon's own virtualenv (AutoGluon 1.6 needs
pandas < 2.4, which Tesla's environment does not pin), in its own process with the same thread
settings as the other sides; prints one JSON line. The virtualenv:

    python3 -m venv .venv-autogluon
    .venv-autogluon/bin/pip install "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" "pandas<2.4" \
        pyarrow torch==2.13.0

    .venv-autogluon/bin/python autogluon_baseline.py --train train.parquet --test test.parquet \
        --target target --task binary --metric log_loss --budget 30 --seed 0 --save-pred pred.npy

AutoGluon seeds its models and split itself, so its seeds differ only by timing. ``num_cpus=1``: Tesla
and FLAML run with ``n_jobs=1`` in the same suite. torch (the CPU build on disk) gives AutoGluon its ``NN_TORCH`` model; fastai needs torchvision, which does not import beside that
build, so ``FASTAI`` is skipped (AutoGluon says so in its log). Its greedy weighted ensemble
(``WeightedEnsemble_L2``) of CatBoost, LightGBM, XGBoost, random / extra trees, KNN and the network is
what this side measures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

STARTED = time.perf_counter()
METRICS = {"log_loss": "log_loss", "rmse": "root_mean_squared_error"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--task", required=True, choices=["binary", "multiclass", "regression"])
    ap.add_argument("--metric", required=True, choices=sorted(METRICS))
    ap.add_argument("--budget", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0, help="recorded only: AutoGluon seeds its models itself")
    ap.add_argument("--presets", default="medium_quality")
    ap.add_argument("--save-pred", required=True, help="test predictions (.npy: values or probabilities)")
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    train, test = pd.read_parquet(args.train), pd.read_parquet(args.test)
    with tempfile.TemporaryDirectory(prefix="ag-") as path:
        predictor = TabularPredictor(label=args.target, problem_type=args.task, eval_metric=METRICS[args.metric],
                                     path=path, verbosity=0)
        fit_started = time.perf_counter()
        predictor.fit(train, time_limit=args.budget, presets=args.presets, num_cpus=1, num_gpus=0)
        fit_s = time.perf_counter() - fit_started
        features = test.drop(columns=[args.target])
        if args.task == "regression":
            pred = predictor.predict(features).to_numpy(dtype="float64")
            classes = None
        else:
            proba = predictor.predict_proba(features)
            classes = [str(c) for c in proba.columns]
            pred = proba.to_numpy(dtype="float64")
        best = predictor.model_best
    np.save(args.save_pred, pred)
    print(json.dumps({"fit_s": fit_s, "wall_s": time.perf_counter() - STARTED, "best_estimator": best,
                      "classes": classes}))


if __name__ == "__main__":
    main()
