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
- ``sorted_native``: FLAML's handling of ``raw`` rebuilt on numbers: each categorical as its code in sorted
  order of the training values (missing: -1), LightGBM told they are categories, the other learners see codes;
- ``onehot_and_codes``: ``onehot15``'s columns plus ``sorted_native``'s code columns (native for LightGBM).

``--eval-method cv`` fixes FLAML's selection to what ``tesla train`` picks on these tables (FLAML's own ``auto``
decides on the encoded width, and one-hot's wider frame flips it to a holdout).

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


def _sorted_codes(X: Any, like: Any, columns: list[str]) -> Any:
    """``like``'s ``columns`` as codes of ``X``'s sorted values (a value not in ``X``, or missing: -1)."""
    import pandas as pd

    out = like.copy()
    for c in columns:
        levels = sorted(X[c].dropna().astype(str).unique())
        out[c] = pd.Categorical(like[c].astype("string"), categories=levels).codes.astype("float64")
    return out


def main() -> None:
    import os

    import pandas as pd

    from tesla.models.preprocess import Preprocessor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=["ames", "diamonds_price", "hpc_class"])
    ap.add_argument("--variants", nargs="*", default=["onehot15", "ordinal", "native", "raw"])
    ap.add_argument("--budget", type=float, default=18.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-method", default="auto", choices=["auto", "cv", "holdout"])
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
        cats = [c for c in X.columns if schema[c]["type"] == "categorical"]
        method = {"eval_method": args.eval_method}
        for variant in args.variants:
            if variant == "raw":
                row = _fit(X, y, X_test, y_test, kind, args.budget, args.seed, **method)
            elif variant in ("sorted_native", "onehot_and_codes"):
                A, B = _sorted_codes(X, X, cats), _sorted_codes(X, X_test, cats)
                names = cats
                if variant == "onehot_and_codes":
                    pre = Preprocessor.fit(X, schema, onehot_max=15)
                    names = [f"{c}__code" for c in cats]
                    A = pd.concat([pre.transform(X, unseen="unknown"), A[cats].set_axis(names, axis=1)], axis=1)
                    B = pd.concat([pre.transform(X_test, unseen="unknown"), B[cats].set_axis(names, axis=1)], axis=1)
                row = _fit(A, y, B, y_test, kind, args.budget, args.seed, **method,
                           fit_kwargs_by_estimator={"lgbm": {"categorical_feature": names}})
            else:
                pre = Preprocessor.fit(X, schema, onehot_max=15 if variant == "onehot15" else 0)
                A, B = pre.transform(X, unseen="unknown"), pre.transform(X_test, unseen="unknown")
                extra: dict[str, Any] = {}
                if variant == "native":  # onehot_max=0: one output column per categorical, in feature order
                    names = [A.columns[i] for i, f in enumerate(pre.features) if f["type"] == "categorical"]
                    extra = {"fit_kwargs_by_estimator": {"lgbm": {"categorical_feature": names}}}
                row = _fit(A, y, B, y_test, kind, args.budget, args.seed, **method, **extra)
            print(json.dumps({"task": name, "variant": variant, "eval_method": args.eval_method, "budget": args.budget,
                              "seed": args.seed, "load_avg": os.getloadavg()[0], **row}), flush=True)


if __name__ == "__main__":
    main()
