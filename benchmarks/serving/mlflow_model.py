"""The MLflow side: the equivalent scikit-learn pipeline, saved as an MLflow model (run with the MLflow venv).

For WORKDIR/<dataset>/ made by prepare.py: a ColumnTransformer doing what Tesla's preprocessing does
(median fill, one-hot and ordinal codes with Tesla's category lists, booleans 0/1, date parts, text
length and word count; read from the Tesla bundle's preprocess.json, which is plain JSON), then a
LightGBM classifier with the Tesla winner's parameters, fitted on the same training rows. Saved with
``mlflow.sklearn.save_model(..., pyfunc_predict_fn="predict_proba")`` so both servers return
probabilities. Also times the pipeline in-process on one row (``mlflow_inprocess.json``).

Usage: $MLFLOW_VENV/bin/python benchmarks/serving/mlflow_model.py WORKDIR/<dataset>
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

TARGET = "churned"
TRUE = {"true", "1", "yes", "y", "t", "1.0"}


def booleans(X: Any) -> Any:
    return np.array([[1.0 if str(v).lower() in TRUE else 0.0 for v in col] for col in np.asarray(X, dtype=object).T]).T


def date_parts(X: Any) -> Any:
    out = []
    for col in np.asarray(X, dtype=object).T:
        when = pd.to_datetime(pd.Series(col), errors="coerce", utc=True).dt.tz_convert(None)
        days = ((when - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).fillna(-1)
        out += [days, when.dt.month.astype("float64").fillna(-1), when.dt.dayofweek.astype("float64").fillna(-1)]
    return np.column_stack(out)


def text_parts(X: Any) -> Any:
    out = []
    for col in np.asarray(X, dtype=object).T:
        text = ["" if v is None or v != v else str(v) for v in col]
        out += [[len(t) for t in text], [len(t.split()) for t in text]]
    return np.array(out, dtype="float64").T


def pipeline(features: list[dict[str, Any]], params: dict[str, Any]) -> Pipeline:
    by = lambda kind, enc=None: [f for f in features if f["type"] == kind and f.get("encoding") == enc]  # noqa: E731
    parts = []
    if by("numeric"):
        parts.append(("num", SimpleImputer(strategy="median"), [f["name"] for f in by("numeric")]))
    if by("categorical", "onehot"):
        parts.append(("onehot", OneHotEncoder(categories=[f["categories"] for f in by("categorical", "onehot")],
                                              handle_unknown="ignore", sparse_output=False),
                      [f["name"] for f in by("categorical", "onehot")]))
    if by("categorical", "ordinal"):
        parts.append(("ordinal", OrdinalEncoder(categories=[f["categories"] for f in by("categorical", "ordinal")],
                                                handle_unknown="use_encoded_value", unknown_value=-1,
                                                encoded_missing_value=-1),
                      [f["name"] for f in by("categorical", "ordinal")]))
    for kind, fn in (("boolean", booleans), ("datetime", date_parts), ("text", text_parts)):
        if by(kind):
            parts.append((kind, FunctionTransformer(fn), [f["name"] for f in by(kind)]))
    keep = {k: v for k, v in params.items() if k in lgb.LGBMClassifier().get_params() and v is not None}
    return Pipeline([("prep", ColumnTransformer(parts)), ("model", lgb.LGBMClassifier(**keep))])


def main(workdir: Path) -> None:
    bundle = Path((workdir / "bundle.txt").read_text().strip())
    features = json.loads((bundle / "preprocess.json").read_text())["features"]
    params = json.loads((workdir / "lgbm_params.json").read_text())
    train = pd.read_csv(workdir / "train.csv")
    columns = [f["name"] for f in features]
    model = pipeline(features, params).fit(train[columns], train[TARGET])
    target = workdir / "mlflow-model"
    shutil.rmtree(target, ignore_errors=True)
    # cloudpickle: the pipeline holds this file's functions, which skops (MLflow's default) does not load
    mlflow.sklearn.save_model(model, str(target), pyfunc_predict_fn="predict_proba",
                              serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    loaded = mlflow.pyfunc.load_model(str(target))
    rows = json.loads((workdir / "rows.json").read_text())
    latencies = []
    for i in range(2000):
        started = time.perf_counter()
        loaded.predict(pd.DataFrame([rows[i % len(rows)]], columns=columns))
        latencies.append((time.perf_counter() - started) * 1e3)
    latencies = sorted(latencies[200:])
    timing = {"p50_ms": round(latencies[len(latencies) // 2], 3), "p99_ms": round(latencies[int(len(latencies) * .99)], 3)}
    (workdir / "mlflow_inprocess.json").write_text(json.dumps(timing))
    print(f"saved {target} (mlflow {mlflow.__version__}, lightgbm {lgb.__version__}); in-process 1 row {timing}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
