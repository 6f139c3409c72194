"""Benchmark inputs, made with Tesla's own venv: one LightGBM model, served two ways.

Writes into WORKDIR:
  project/              a Tesla project with the breast-cancer data and model bench@1 (LightGBM only)
  bundle.txt            the path of bench@1's bundle (what `python -m tesla.serving` serves)
  booster.txt           the SAME fitted LightGBM booster in LightGBM's text format (what MLflow serves)
  columns.json          the feature columns, in the booster's order
  rows.json             the rows every request is drawn from (held-out, no label)
  body-1.json           the request body: MLflow/SageMaker `dataframe_split`, one row; Tesla takes it as-is

Usage: python benchmarks/serving/prepare.py WORKDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(workdir: Path) -> None:
    from tesla import api
    from tesla.models import load_bundle
    from tesla.testing import datasets

    workdir.mkdir(parents=True, exist_ok=True)
    project = workdir / "project"
    if not (project / "conf").exists():
        api.init_project(project)
    data = datasets.breast_cancer()
    train = data.sample(frac=0.8, random_state=0)
    train.to_csv(workdir / "train.csv", index=False)
    api.load(workdir / "train.csv", "bc", target="target", project_dir=project)
    result = api.train("bench", max_iter=8, overrides=["search.estimators=[lgbm]"], project_dir=project)
    store = api.open_store(project)
    bundle_dir = store.artifacts.path(result.model.bundle_sha)
    bundle = load_bundle(bundle_dir)
    assert type(bundle.estimator).__name__ == "LGBMClassifier", type(bundle.estimator)
    bundle.estimator.booster_.save_model(str(workdir / "booster.txt"))
    columns = [f["name"] for f in bundle.signature]
    # every column is numeric and none is null in these rows, so Tesla's preprocessing is the identity
    # and both servers feed the booster the same numbers
    assert all(f["type"] == "numeric" for f in bundle.signature)
    rows = data.drop(train.index).drop(columns=["target"])[columns]
    (workdir / "bundle.txt").write_text(str(bundle_dir))
    (workdir / "columns.json").write_text(json.dumps(columns))
    (workdir / "rows.json").write_text(rows.to_json(orient="records"))
    first = json.loads(rows.head(1).to_json(orient="split", index=False))
    (workdir / "body-1.json").write_text(json.dumps({"dataframe_split": first}))
    print(f"{result.model.ref}: {result.search['best_estimator']} {result.model.metrics.get('roc_auc', 0):.4f} "
          f"roc_auc; bundle {bundle_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
