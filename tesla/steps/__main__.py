"""Run one plan step in a fresh process: what a cloud container executes.

    python -m tesla.steps --plan plan.json --step search \\
        --inputs-dir /opt/ml/input/data --output-dir /opt/ml/model

Input ``name`` is read from ``--input name=PATH`` or else ``<inputs-dir>/<name>``. Outputs
are written to ``<output-dir>/<name>`` and the step's JSON result to
``<output-dir>/_result.json``. Exit status 0 on success, 1 with a one-line error otherwise; the error is also written to
``/opt/ml/output/failure`` (or ``$TESLA_FAILURE_FILE``) so the provider reports it as the reason.
Inside SageMaker the defaults follow its container layout (``SM_CHANNEL_*``, ``SM_MODEL_DIR``);
on Vertex, ``AIP_MODEL_DIR`` (a local path or a mounted ``/gcs/...`` path) is honoured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tesla.errors import TeslaError
from tesla.plan import Plan
from tesla.steps import StepContext, run_step

RESULT_FILE = "_result.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tesla.steps", description="Run one step of a Tesla plan.")
    ap.add_argument("--plan", required=True, help="path to plan.json")
    ap.add_argument("--step", required=True, help="id of the step to run")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=PATH", help="an input's local path")
    ap.add_argument("--inputs-dir", default=os.environ.get("SM_INPUT_DATA_DIR", "/opt/ml/input/data"))
    ap.add_argument("--output-dir", default=os.environ.get("AIP_MODEL_DIR") or os.environ.get("SM_MODEL_DIR")
                    or "/opt/ml/model")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        plan = Plan.from_json(Path(args.plan).read_text())
        step = plan.step(args.step)
        explicit = dict(item.split("=", 1) for item in args.input)
        inputs = {}
        for name in step.inputs:
            channel = os.environ.get(f"SM_CHANNEL_{name.upper()}")
            inputs[name] = Path(explicit.get(name) or channel or Path(args.inputs_dir) / name)
        outdir = Path(args.output_dir)

        def report(data: dict) -> None:
            print(json.dumps({"step": step.id, "progress": data}, default=str), flush=True)

        result = run_step(StepContext(step=step, inputs=inputs, outdir=outdir, progress=report))
        (outdir / RESULT_FILE).write_text(json.dumps(result, sort_keys=True, default=str))
    except (TeslaError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        _write_failure(str(exc))
        return 1
    return 0


def _write_failure(message: str) -> None:
    """SageMaker reports /opt/ml/output/failure as the job's FailureReason; write it when present."""
    target = os.environ.get("TESLA_FAILURE_FILE") or "/opt/ml/output/failure"
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True) if os.environ.get("TESLA_FAILURE_FILE") else None
        if Path(target).parent.is_dir():
            Path(target).write_text(message[:1024])
    except OSError:
        pass  # best effort: the message is on stderr too


if __name__ == "__main__":
    sys.exit(main())
