"""`python -m tesla.steps` runs one step from plan.json alone, as a cloud container does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tesla.testing.contract import _dataset_csv, contract_plan


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "tesla.steps", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_a_step_runs_from_the_plan_file_alone(tmp_path: Path) -> None:
    csv = _dataset_csv(tmp_path / "d.csv")
    plan = contract_plan("0" * 64)
    (tmp_path / "plan.json").write_text(plan.to_json())
    inputs = tmp_path / "in"
    (inputs / "source").mkdir(parents=True)
    (inputs / "source" / "d.csv").write_bytes(csv.read_bytes())  # a channel directory holding one file
    proc = _run(["--plan", str(tmp_path / "plan.json"), "--step", "load", "--inputs-dir", str(inputs),
                 "--output-dir", str(tmp_path / "out")])
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(tmp_path / "out" / "table")) == 60
    assert json.loads((tmp_path / "out" / "_result.json").read_text())["task"] == "binary"
    assert json.loads((tmp_path / "out" / "schema").read_text())["target"] == "label"


def test_a_failing_step_prints_one_line_and_writes_the_failure_file(tmp_path: Path) -> None:
    csv = _dataset_csv(tmp_path / "d.csv")
    (tmp_path / "plan.json").write_text(contract_plan("0" * 64, target="nope").to_json())
    proc = _run(["--plan", str(tmp_path / "plan.json"), "--step", "load", "--input", f"source={csv}",
                 "--output-dir", str(tmp_path / "out")], env={"TESLA_FAILURE_FILE": str(tmp_path / "failure")})
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: target column 'nope' is not in dataset 'contract@1'")
    assert "nope" in (tmp_path / "failure").read_text()


def test_an_unknown_step_id_lists_the_steps(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(contract_plan("0" * 64).to_json())
    proc = _run(["--plan", str(tmp_path / "plan.json"), "--step", "train", "--output-dir", str(tmp_path)])
    assert proc.returncode == 1 and "has no step 'train'; steps: load, split" in proc.stderr
