"""The evaluation service: score a model on labelled data, batch predictions, and the deploy gates."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler import compile_evaluate
from tesla.errors import DataError, GateError
from tesla.execution import RunResult
from tesla.services._common import (
    EventSink,
    PathLike,
    input_file,
    output_file,
    write_table,
)
from tesla.store import ModelVersion, Store

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["EvaluateResult", "EvaluationService", "check_gates"]


@dataclass
class EvaluateResult:
    model: ModelVersion
    metrics: dict[str, float]
    baseline: dict[str, float]
    rows: int
    report_path: Path
    run: RunResult


class EvaluationService:
    """Evaluation of one project's registered models: held-out scores, predictions and gates."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def evaluate(self, model: str, data: PathLike, *, overrides: Sequence[str] = (), force: bool = False,
                 on_event: EventSink | None = None) -> EvaluateResult:
        """Score a registered model (``NAME`` or ``NAME@N``) on a labelled file; store metrics and report."""
        _, plain = self.project.config(overrides)
        store = self.project.store
        mv = self.project.training.resolve_model(model)
        path = input_file(data, "evaluation data")
        self._check_labelled(path, mv)  # before anything is stored or a run is recorded
        test = self.project.data.stage_file(str(path.resolve()), "-d", put=True)
        assert test is not None
        plan = compile_evaluate(plain, model_ref=mv.ref, bundle_sha=mv.bundle_sha, test_file=test)
        backend = self.project.backend(plain)
        self.project.training.guard_budget(backend, plan, plain)
        run = backend.run(plan, force=force, on_event=on_event)
        result = run.result("evaluate")
        report_sha = run.output("evaluate", "report")
        store.add_evaluation(mv.name, mv.version, test.label, result["metrics"], report_sha)
        report = store.state_dir / "reports" / f"{mv.name}-v{mv.version}-{Path(test.label).stem}.html"
        report.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.artifacts.path(report_sha), report)  # a readable name that opens in a browser
        return EvaluateResult(model=mv, metrics=result["metrics"], baseline=result["baseline"], rows=result["rows"],
                              report_path=report, run=run)

    def _check_labelled(self, path: Path, mv: ModelVersion) -> None:
        from tesla.data import check_columns, read_table
        from tesla.models import read_manifest, verified_bundle_dir

        manifest = read_manifest(verified_bundle_dir(self.project.store.artifacts, mv.bundle_sha, ref=mv.ref))
        target, df = manifest["target"], read_table(path)
        columns = list(df.columns)
        if target not in columns:
            raise DataError(f"evaluation data '{path}' has no target column '{target}' (columns: "
                            f"{', '.join(columns)}); {mv.ref} needs labelled rows", key=target)
        check_columns(df, manifest["signature"], f"evaluation data '{path}'")

    def predict(self, model: str, data: PathLike, output: PathLike | None = None) -> tuple[Any, Path | None]:
        """Batch-score ``data`` with a registered model; returns (frame with predictions, output path).

        ``output`` (``.parquet`` or else CSV) is checked before anything is scored; its missing parent
        directories are made, as ``tesla monitor --report`` and the evaluation reports do.
        """
        import pandas as pd

        from tesla.data import check_columns, read_table
        from tesla.models import load_verified_bundle

        store = self.project.store
        mv = self.project.training.resolve_model(model)
        source = input_file(data)
        path = output_file(output) if output is not None else None
        bundle = load_verified_bundle(store.artifacts, mv.bundle_sha, ref=mv.ref)
        df = read_table(source)
        check_columns(df, bundle.signature, f"'{data}'")
        target = bundle.manifest["target"]
        features = df.drop(columns=[target]) if target in df.columns else df
        records = bundle.predict_records(features, unseen="unknown")
        out = df.copy()
        out["prediction"] = [r["prediction"] for r in records]
        if bundle.task != "regression":
            probs = pd.DataFrame([r["probabilities"] for r in records], index=df.index)
            for col in probs.columns:
                out[f"proba_{col}"] = probs[col]
        if path is not None:
            write_table(out, path)
        return out, path

    def check_gates(self, gates: Mapping[str, Any], mv: ModelVersion, *, compare: bool = True) -> None:
        """Raise GateError when the model's recorded metrics fail ``evaluation.gates`` (see ``check_gates``)."""
        check_gates(gates, mv, self.project.store, compare=compare)


def check_gates(gates: Mapping[str, Any], mv: ModelVersion, store: Store, *, compare: bool = True) -> None:
    """Raise GateError when the model's recorded metrics fail ``evaluation.gates``.

    ``compare=False`` skips the ``vs`` (beat the champion) rules: a rollback returns to the former
    champion on purpose, so only the absolute ``min``/``max`` rules apply to it.
    """
    from tesla.evaluation.metrics import higher_is_better

    for metric, rule in gates.items():
        if metric not in mv.metrics:
            raise GateError(f"gate on '{metric}' cannot be checked: {mv.ref} has no recorded '{metric}' "
                            f"(it has {', '.join(sorted(mv.metrics))})", key=f"evaluation.gates.{metric}")
        value = float(mv.metrics[metric])
        if "min" in rule and value < float(rule["min"]):
            raise GateError(f"{mv.ref} fails the gate {metric} >= {rule['min']}: it scored {value:.4f}; "
                            "the current deployment is unchanged", key=f"evaluation.gates.{metric}")
        if "max" in rule and value > float(rule["max"]):
            raise GateError(f"{mv.ref} fails the gate {metric} <= {rule['max']}: it scored {value:.4f}; "
                            "the current deployment is unchanged", key=f"evaluation.gates.{metric}")
        if rule.get("vs") and compare:
            _check_vs(metric, rule, value, mv, store, higher_is_better(metric))


def _check_vs(metric: str, rule: Mapping[str, Any], value: float, mv: ModelVersion, store: Store,
              higher: bool) -> None:
    """The champion comparison: beat the version serving ``rule["vs"]`` by ``min_delta``."""
    live = [d for d in store.deployments(model=mv.name, profile=rule["vs"], active_only=True)]
    if not live or live[0].version == mv.version:
        return
    champion = store.model(mv.name, live[0].version)
    if metric not in champion.metrics:
        return
    delta = (value - float(champion.metrics[metric])) * (1 if higher else -1)
    if delta < float(rule.get("min_delta", 0.0)):
        raise GateError(f"{mv.ref} does not beat {champion.ref} (serving '{rule['vs']}') on {metric} by "
                        f"{rule.get('min_delta', 0.0)}: {value:.4f} vs {float(champion.metrics[metric]):.4f}; "
                        "the current deployment is unchanged", key=f"evaluation.gates.{metric}")
