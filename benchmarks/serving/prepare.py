"""Benchmark inputs, made with Tesla's own venv: two tables, one LightGBM model each, served two ways.

Datasets (both generated or shipped offline):
  mixed     a generated churn-like table, 20,000 rows: low-cardinality categoricals (one-hot), a
            500-value city (ordinal), missing numbers and categories, a boolean, a date, free text
  numeric   scikit-learn's breast-cancer table (30 numeric columns)

Writes into WORKDIR/<dataset>/:
  project/          a Tesla project with the table and model bench@1 (LightGBM only)
  bundle.txt        the path of bench@1's bundle (what `python -m tesla.serving` serves)
  train.csv         the training rows (raw), which the MLflow side fits its pipeline on
  lgbm_params.json  the winner's LightGBM parameters, so the MLflow pipeline fits the same learner
  rows.json         held-out raw rows (no label) the request bodies are drawn from
  body-1.json       one row as MLflow's `dataframe_split` (Tesla takes it as-is)
  body-100.json     100 rows, the same way

Usage: python benchmarks/serving/prepare.py WORKDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TARGET = "churned"


def mixed_table(n: int = 20_000, seed: int = 0) -> Any:
    """Categoricals (3, 6 and 500 values), missing values, a boolean, a date and text; a label from them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2]).astype(object)
    region = rng.choice(["north", "south", "east", "west", "central", "islands"], n).astype(object)
    region[rng.random(n) < 0.05] = None
    city = np.array([f"city-{c:03d}" for c in rng.zipf(1.2, n) % 500], dtype=object)
    tenure = rng.integers(1, 72, n).astype("float64")
    charges = rng.normal(70, 20, n).clip(10, 150).round(2)
    charges[rng.random(n) < 0.08] = np.nan
    calls = rng.poisson(1.5, n).astype("float64")
    autopay = rng.random(n) < 0.6
    signup = (pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")).strftime("%Y-%m-%d")
    words = np.array(["late", "payment", "happy", "discount", "slow", "support", "great", "cancel", "price",
                      "router", "billing", "moving", "fast", "offer", "family", "plan"])
    note = [" ".join(rng.choice(words, rng.integers(2, 9))) + f" #{i}" for i in range(n)]
    logit = (-1.0 - 0.04 * tenure + 0.02 * (np.nan_to_num(charges, nan=70) - 70) + 0.5 * calls - 0.8 * autopay
             + np.where(plan == "premium", -0.7, np.where(plan == "basic", 0.4, 0.0)))
    return pd.DataFrame({"plan": plan, "region": region, "city": city, "tenure_months": tenure,
                         "monthly_charges": charges, "support_calls": calls, "autopay": autopay,
                         "signup_date": signup, "note": note,
                         TARGET: np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")})


def numeric_table() -> Any:
    from tesla.testing import datasets

    return datasets.breast_cancer().rename(columns={"target": TARGET})


def prepare(workdir: Path, name: str, data: Any) -> None:
    from tesla import api
    from tesla.models import load_bundle

    workdir.mkdir(parents=True, exist_ok=True)
    project = workdir / "project"
    if not (project / "conf").exists():
        api.init_project(project)
    train = data.sample(frac=0.8, random_state=0)
    train.to_csv(workdir / "train.csv", index=False)
    api.load(workdir / "train.csv", name, target=TARGET, project_dir=project)
    result = api.train("bench", max_iter=8, overrides=["search.estimators=[lgbm]"], project_dir=project)
    store = api.open_store(project)
    bundle_dir = store.artifacts.path(result.model.bundle_sha)
    bundle = load_bundle(bundle_dir)
    assert type(bundle.estimator).__name__ == "LGBMClassifier", type(bundle.estimator)
    assert bundle.compiled is not None and bundle.on_arrays is not None, "the fast path is off"
    (workdir / "lgbm_params.json").write_text(json.dumps(bundle.estimator.get_params(), default=str))
    columns = [f["name"] for f in bundle.signature]
    rows = data.drop(train.index).drop(columns=[TARGET])[columns]
    (workdir / "bundle.txt").write_text(str(bundle_dir))
    (workdir / "rows.json").write_text(rows.to_json(orient="records"))
    for n in (1, 100):
        split = json.loads(rows.head(n).to_json(orient="split", index=False))
        (workdir / f"body-{n}.json").write_text(json.dumps({"dataframe_split": split}))
    kinds = {f["name"]: f["type"] + (f"/{f['encoding']}" if "encoding" in f else "") for f in bundle.preprocessor.features}
    print(f"{name}: {result.model.ref} {result.search['best_estimator']} "
          f"{result.model.metrics.get('roc_auc', 0):.4f} roc_auc; features {kinds}; bundle {bundle_dir}")


def main(workdir: Path) -> None:
    prepare(workdir / "mixed", "mixed", mixed_table())
    prepare(workdir / "numeric", "numeric", numeric_table())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
