"""What Tesla's encoding costs FLAML: plain FLAML fitted on one task's train rows as Tesla's Preprocessor
encodes them, against the raw table FLAML encodes itself. Scored on the suite's test rows; prints JSON lines.

    .venv/bin/python benchmarks/automl/encoding.py --tasks ames diamonds_price hpc_class --budget 18

Variants (``--variants``), each one ``flaml.AutoML().fit`` with the same budget, seed, metric and ``n_jobs=1``:

- ``onehot15``: Tesla's default (``search.onehot_max_levels=15``: one-hot up to 15 levels, ordinal codes by
  training frequency above; numeric gaps filled with the median, as FLAML's own imputer does);
- ``ordinal``: every categorical as ordinal codes (``search.onehot_max_levels=0``);
- ``native``: ordinal codes, with LightGBM told they are categories (``categorical_feature``; the other
  learners see codes);
- ``raw``: the raw table; FLAML makes strings pandas categories (LightGBM native, codes for the rest).

Columns are typed numeric or categorical from their dtype (the tasks named above have no dates or text).
18 s is what FLAML got inside a 30 s ``tesla train`` of the suite.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import suite  # the same tasks, split and metrics


def _fit(X: Any, y: Any, X_test: Any, y_test: Any, kind: str, budget: float, seed: int, **kwargs: Any) -> dict[str, Any]:
    import numpy as np
    from flaml import AutoML
    from sklearn.metrics import log_loss, mean_squared_error

    automl = AutoML()
    started = time.perf_counter()
    automl.fit(X, y, task="regression" if kind == "regression" else "classification", metric=suite.METRIC[kind],
               time_budget=budget, seed=seed, n_jobs=1, verbose=0, **kwargs)
    if kind == "regression":
        score = float(np.sqrt(mean_squared_error(y_test, automl.predict(X_test))))
    else:
        score = float(log_loss(y_test, automl.predict_proba(X_test), labels=automl.classes_))
    return {"score": score, "best": automl.best_estimator, "val_loss": automl.best_loss,
            "fit_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    import os

    import pandas as pd

    from tesla.models.preprocess import Preprocessor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=["ames", "diamonds_price", "hpc_class"])
    ap.add_argument("--variants", nargs="*", default=["onehot15", "ordinal", "native", "raw"])
    ap.add_argument("--budget", type=float, default=18.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.update(suite.THREADS)
    warnings.filterwarnings("ignore")
    work = Path(tempfile.mkdtemp(prefix="tesla-encoding-"))
    for name in args.tasks:
        train_path, test_path, kind = suite.prepare(name, work / name)
        target = suite.TASKS[name][1]
        train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
        X, y, X_test, y_test = train.drop(columns=[target]), train[target], test.drop(columns=[target]), test[target]
        schema = {c: {"type": "numeric" if pd.api.types.is_numeric_dtype(X[c]) else "categorical"} for c in X.columns}
        for variant in args.variants:
            if variant == "raw":
                row = _fit(X, y, X_test, y_test, kind, args.budget, args.seed)
            else:
                pre = Preprocessor.fit(X, schema, onehot_max=15 if variant == "onehot15" else 0)
                A, B = pre.transform(X, unseen="unknown"), pre.transform(X_test, unseen="unknown")
                extra: dict[str, Any] = {}
                if variant == "native":  # onehot_max=0: one output column per categorical, in feature order
                    names = [A.columns[i] for i, f in enumerate(pre.features) if f["type"] == "categorical"]
                    extra = {"fit_kwargs_by_estimator": {"lgbm": {"categorical_feature": names}}}
                row = _fit(A, y, B, y_test, kind, args.budget, args.seed, **extra)
            print(json.dumps({"task": name, "variant": variant, "load_avg": os.getloadavg()[0], **row}), flush=True)


if __name__ == "__main__":
    main()
