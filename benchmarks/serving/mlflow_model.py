"""Save the benchmark's LightGBM booster as an MLflow model (run with the MLflow venv, not Tesla's).

Usage: $MLFLOW_VENV/bin/python benchmarks/serving/mlflow_model.py WORKDIR
Writes WORKDIR/mlflow-model, served by `mlflow models serve -m WORKDIR/mlflow-model --env-manager local`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import lightgbm as lgb
import mlflow.lightgbm
import pandas as pd
from mlflow.models import infer_signature


def main(workdir: Path) -> None:
    booster = lgb.Booster(model_file=str(workdir / "booster.txt"))
    columns = json.loads((workdir / "columns.json").read_text())
    rows = pd.DataFrame(json.loads((workdir / "rows.json").read_text()))[columns]
    target = workdir / "mlflow-model"
    shutil.rmtree(target, ignore_errors=True)
    mlflow.lightgbm.save_model(booster, str(target), signature=infer_signature(rows, booster.predict(rows)),
                               input_example=rows.head(1))
    print(f"saved {target} (mlflow {mlflow.__version__}, lightgbm {lgb.__version__})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
