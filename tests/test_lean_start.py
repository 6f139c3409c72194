"""`tesla --help` and `tesla plan` never import ML frameworks, pandas or cloud SDKs (they cost seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tesla import api

HEAVY = ("flaml", "sklearn", "pandas", "torch", "tensorflow", "keras", "lightgbm", "xgboost", "skops",
         "boto3", "botocore", "sagemaker", "google.cloud", "numpy")

_PROBE = """
import json, sys
from tesla.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith('google.cloud.'))
print('HEAVY=' + json.dumps(heavy))
"""


def _heavy_modules(argv: list[str], cwd: Path) -> list[str]:
    code = _PROBE.format(argv=argv, heavy=tuple(h.split(".")[0] for h in HEAVY if h != "google.cloud"))
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY=")]
    assert line, out.stdout + out.stderr
    return json.loads(line[0].removeprefix("HEAVY="))


def test_help_is_lean(tmp_path: Path) -> None:
    assert _heavy_modules(["--help"], tmp_path) == []


def test_plan_is_lean(project: Path, datasets_dir: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    assert _heavy_modules(["plan", "-m", "m", "-p", "5"], project) == []


@pytest.mark.parametrize("module", ["tesla", "tesla.plan", "tesla.errors", "tesla.compiler", "tesla.execution"])
def test_core_modules_import_lean(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_import_has_no_global_side_effects() -> None:
    code = "import logging, tesla.cli, tesla.api; print(len(logging.getLogger().handlers))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0"
