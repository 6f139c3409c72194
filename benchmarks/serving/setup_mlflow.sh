#!/usr/bin/env bash
# Create the MLflow side of the benchmark in its OWN virtual environment (MLflow is not a Tesla
# dependency). Default location: /tmp/tesla-bench-mlflow; override with MLFLOW_VENV=...
# mlflow-skinny carries the same `mlflow models serve` scoring server as the full mlflow package.
set -euo pipefail
VENV="${MLFLOW_VENV:-/tmp/tesla-bench-mlflow}"
if [ ! -x "$VENV/bin/mlflow" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "mlflow-skinny==3.17.2" "lightgbm==4.7.0" "pandas==3.1.1" "numpy==2.4.6" "scikit-learn==1.9.1" "cloudpickle"
fi
"$VENV/bin/python" -c "import mlflow, lightgbm; print('mlflow', mlflow.__version__, 'lightgbm', lightgbm.__version__)"
