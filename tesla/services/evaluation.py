"""The evaluation service: score a model on labelled data, batch predictions, and the deploy gates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler import compile_evaluate
from tesla.errors import DataError, DataNotFoundError, DeployError, GateError
from tesla.evaluation.delta import Delta
from tesla.execution import RunResult
from tesla.services._common import (
    EventSink,
    PathLike,
    input_file,
    is_frame,
    local_input,
    output_file,
    parse_model_ref,
    write_table,
)
from tesla.store import ModelVersion, Store

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["CompareResult", "EvaluateResult", "EvaluationRecord", "EvaluationService", "check_gates",
           "gate_results"]


@dataclass
class EvaluateResult:
    """One ``tesla evaluate``: scores, decisions, warnings, gate verdicts and the stored report."""

    model: ModelVersion
    metrics: dict[str, float]
    baseline: dict[str, float]
    rows: int
    report_path: Path
    run: RunResult
    report_sha: str = ""
    decision: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    against: ModelVersion | None = None  # the version compared with (``--against PROFILE``)
    deltas: list[Delta] = field(default_factory=list)

    @property
    def failed_gates(self) -> list[dict[str, Any]]:
        return [g for g in self.gates if not g["passed"]]

    def _repr_html_(self) -> str:
        from tesla.report.notebook import embedded_report

        summary = _summary_html(f"Evaluation of {self.model.ref}", self.metrics, self.warnings, self.report_path)
        if not self.report_path.is_file():  # a remote result names the server's file
            return summary
        return summary + embedded_report(self.report_path.read_text(encoding="utf-8"), "Plots and tables")


@dataclass
class CompareResult:
    """``tesla models compare A B``: deltas (b - a) on the same rows with paired bootstrap intervals."""

    a: ModelVersion
    b: ModelVersion
    rows: int
    deltas: list[Delta]
    report_path: Path

    def _repr_html_(self) -> str:
        from tesla.evaluation.compare import comparison_html

        return comparison_html(self.deltas, (self.a.ref, self.b.ref), self.rows, 0)


@dataclass(frozen=True)
class EvaluationRecord:
    """One recorded evaluation of a model version: a ``tesla evaluate`` on a labelled file, or the evaluate
    step of the training run that registered it (on its held-out split)."""

    model: str  # NAME@VERSION
    version: int
    source: str  # "evaluate" (tesla evaluate) | "training" (the registering run's evaluate step)
    data: str  # the labelled rows: the file as recorded, or "held-out split"
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]  # the verdicts recorded with it (training records none)
    report: str | None  # the stored report's id (its sha256): ``EvaluationService.report`` serves it
    created_at: str | None
    run_id: str | None = None  # the training run (source "training")


def _summary_html(title: str, metrics: Mapping[str, float], warnings: Sequence[str], report: Path) -> str:
    import html as html_lib

    from tesla.report.html import metrics_table

    items = "".join(f"<li>{html_lib.escape(w)}</li>" for w in warnings)
    return (f"<h3>{html_lib.escape(title)}</h3>" + (f"<ul>{items}</ul>" if items else "")
            + metrics_table({m: {"value": v} for m, v in metrics.items()}, ["value"])
            + f"<p>report: <code>{html_lib.escape(str(report))}</code></p>")


class EvaluationService:
    """Evaluation of one project's registered models: held-out scores, predictions and gates."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def evaluate(self, model: str, data: PathLike | Any, *, overrides: Sequence[str] = (), force: bool = False,
                 against: str | None = None, on_event: EventSink | None = None) -> EvaluateResult:
        """Score a registered model (``NAME`` or ``NAME@N``) on a labelled file; store metrics, gates and report.

        Args:
            model: NAME or NAME@N.
            data: a labelled CSV/Parquet/JSON-lines file, or a pandas DataFrame (staged as a Parquet file).
            overrides: Hydra overrides.
            force: re-run the evaluate step even when cached.
            against: a deploy profile: compare with the version serving it on the same rows.
            on_event: receives the run's events.

        Raises:
            GateError: an ``evaluation.gates`` rule fails; the evaluation and its verdicts are recorded first.
        """
        mv = self.project.training.resolve_model(model)  # a missing model is named before a missing file
        with local_input(data, self.project.store.state_dir, "evaluation data") as path:
            return self._evaluate(mv, path, overrides=overrides, force=force, against=against, on_event=on_event)

    def _evaluate(self, mv: ModelVersion, path: Path, *, overrides: Sequence[str], force: bool, against: str | None,
                  on_event: EventSink | None) -> EvaluateResult:
        from tesla.report.files import keep_report

        plain = self.project.plain_config(overrides)
        store = self.project.store
        champion = self._serving(mv, against) if against else None
        self._check_labelled(path, mv)  # before anything is stored or a run is recorded
        test = self.project.data.stage_file(str(path.resolve()), "-d", put=True)
        assert test is not None
        plan = compile_evaluate(plain, model_ref=mv.ref, bundle_sha=mv.bundle_sha, test_file=test)
        backend = self.project.backend(plain)
        self.project.training.guard_budget(backend, plan, plain)
        run = backend.run(plan, force=force, on_event=on_event)
        result = run.result("evaluate")
        page = store.artifacts.path(run.output("evaluate", "report")).read_text(encoding="utf-8")
        gates = gate_results(plain["evaluation"]["gates"], result["metrics"], mv.ref)
        deltas: list[Delta] = []
        extra = [("Gates", _gates_html(gates))] if gates else []
        if champion is not None and champion.version != mv.version:
            _, deltas, section = self._against(champion, mv, path, plain)
            extra.append((f"Against {champion.ref} (serving '{against}')", section))
        report_sha, report = keep_report(store, _with_sections(page, extra), "evaluation",
                                         f"{mv.name}-v{mv.version}-{Path(test.label).stem}")
        store.add_evaluation(mv.name, mv.version, test.label, {**result["metrics"], "gates": gates}, report_sha)
        out = EvaluateResult(model=mv, metrics=result["metrics"], baseline=result["baseline"], rows=result["rows"],
                             report_path=report, run=run, report_sha=report_sha, decision=result.get("decision"),
                             warnings=list(result.get("warnings", [])), gates=gates, against=champion, deltas=deltas)
        if out.failed_gates:
            g = out.failed_gates[0]
            raise GateError(f"{g['message']}; the evaluation is recorded, report: {report}",
                            key=f"evaluation.gates.{g['metric']}")
        return out

    def evaluations(self, model: str) -> list[EvaluationRecord]:
        """The recorded evaluations of a model, newest first: each ``tesla evaluate`` of it and, per version,
        the evaluation its training run made on the held-out split.

        Args:
            model: NAME (every version) or NAME@N / NAME@ALIAS (that version).

        Raises:
            ModelNotFoundError: no such model or version.
        """
        store = self.project.store
        name, version = parse_model_ref(model)
        versions = [self.project.training.resolve_model(model)] if version is not None else store.model_versions(name)
        if not versions:
            store.model(name)  # raises, naming the models there are
        out: list[EvaluationRecord] = []
        for mv in versions:
            out += [EvaluationRecord(model=mv.ref, version=mv.version, source="evaluate", data=e.data,
                                     metrics={k: v for k, v in e.metrics.items() if k != "gates"},
                                     gates=list(e.metrics.get("gates") or []), report=e.report_sha,
                                     created_at=e.created_at) for e in store.evaluations(mv.name, mv.version)]
            out += self._training_evaluations(mv)
        return sorted(out, key=lambda e: (e.created_at or "", e.version, e.source == "evaluate"), reverse=True)

    def _training_evaluations(self, mv: ModelVersion) -> list[EvaluationRecord]:
        """The evaluate step of the run that registered ``mv`` (none for a version registered otherwise)."""
        if not mv.run_id:
            return []
        return [EvaluationRecord(model=mv.ref, version=mv.version, source="training",
                                 data=str(step.params.get("source", "held-out split")),
                                 metrics=dict(step.result.get("metrics") or {}), gates=[],
                                 report=step.outputs.get("report"), created_at=step.started_at, run_id=mv.run_id)
                for step in self.project.store.run_steps(mv.run_id)
                if step.kind == "evaluate" and step.status in ("succeeded", "cached")]

    def report(self, model: str, report: str) -> str:
        """The HTML of a recorded evaluation report of ``model``: self-contained (inline SVG, no script, no URL).

        Args:
            model: NAME or NAME@N; the report must be one of its ``evaluations``.
            report: the report's id (``EvaluationRecord.report``).

        Raises:
            ModelNotFoundError: no such model or version.
            DataNotFoundError: ``report`` is no recorded evaluation report of ``model``.
            IntegrityError: the stored report changed since it was written.
        """
        known = {e.report for e in self.evaluations(model) if e.report}
        if report not in known:
            raise DataNotFoundError(f"'{report}' is not an evaluation report of {model} (it has {len(known)}); "
                                    f"see evaluation.evaluations('{model}') (GET /evaluation/{model}/evaluations)",
                                    key="report")
        path = self.project.store.artifacts.verify(report, label=f"evaluation report {report[:12]} of {model}",
                                                   hint="evaluate the model again")
        return path.read_text(encoding="utf-8")

    def compare(self, a: str, b: str, data: PathLike | Any, *, overrides: Sequence[str] = ()) -> CompareResult:
        """``tesla models compare A B -d FILE``: B minus A on the same labelled rows, with bootstrap intervals."""
        from tesla.report.files import keep_report
        from tesla.report.html import page

        if is_frame(data):
            with local_input(data, self.project.store.state_dir) as path:
                return self.compare(a, b, path, overrides=overrides)
        plain = self.project.plain_config(overrides)
        first, second = self.project.training.resolve_model(a), self.project.training.resolve_model(b)
        path = input_file(data, "comparison data")
        self._check_labelled(path, first)
        rows, deltas, section = self._against(first, second, path, plain)
        samples = int(plain["evaluation"].get("bootstrap_samples", 500))
        _, report = keep_report(self.project.store, page(f"{second.ref} vs {first.ref}", [("Metric deltas", section)],
                                                         {"a": first.ref, "b": second.ref, "data": str(path),
                                                          "bootstrap samples": samples}),
                                "compare", f"{first.name}-v{first.version}-vs-{second.name}-v{second.version}")
        return CompareResult(a=first, b=second, rows=rows, deltas=deltas, report_path=report)

    def _serving(self, mv: ModelVersion, profile: str) -> ModelVersion:
        live = self.project.store.deployments(model=mv.name, profile=profile, active_only=True)
        if not live:
            raise DeployError(f"no version of '{mv.name}' is serving profile '{profile}', so --against {profile} "
                              f"has nothing to compare with; deploy one (`tesla deploy -m {mv.name} -p {profile}`) "
                              f"or compare two versions with `tesla models compare`", key="--against")
        return self.project.store.model(mv.name, live[0].version)

    def _against(self, a: ModelVersion, b: ModelVersion, path: Path,
                 plain: Mapping[str, Any]) -> tuple[int, list[Delta], str]:
        """(rows, deltas b - a, their HTML table) of two registered versions on the labelled file ``path``."""
        from tesla.data import read_table
        from tesla.evaluation.compare import compare_bundles, comparison_html
        from tesla.models import load_verified_bundle

        artifacts = self.project.store.artifacts
        first = load_verified_bundle(artifacts, a.bundle_sha, ref=a.ref)
        second = load_verified_bundle(artifacts, b.bundle_sha, ref=b.ref)
        samples = int(plain["evaluation"].get("bootstrap_samples", 500))
        rows, deltas = compare_bundles(first, second, read_table(path), metrics=plain["evaluation"]["metrics"],
                                       samples=samples, names=(a.ref, b.ref))
        return rows, deltas, comparison_html(deltas, (a.ref, b.ref), rows, samples)

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

    def predict(self, model: str, data: PathLike | Any, output: PathLike | None = None) -> Any:
        """Batch-score ``data`` (a file or a pandas DataFrame) with a registered model.

        ``output`` (``.parquet`` or else CSV) is checked before anything is scored; its missing parent
        directories are made, as ``tesla monitor --report`` and the evaluation reports do.

        Returns:
            A pandas DataFrame: the rows given (a DataFrame keeps its index), with ``prediction`` (and
            ``proba_<class>`` per class of a classifier) added; also written to ``output`` when one is given.
        """
        import pandas as pd

        from tesla.data import check_columns, read_table
        from tesla.models import load_verified_bundle

        store = self.project.store
        mv = self.project.training.resolve_model(model)
        frame = is_frame(data)
        source = None if frame else input_file(data)
        path = output_file(output) if output is not None else None
        bundle = load_verified_bundle(store.artifacts, mv.bundle_sha, ref=mv.ref)
        df = data if frame else read_table(source)
        check_columns(df, bundle.signature, "the DataFrame" if frame else f"'{data}'")
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
        return out

    def check_gates(self, gates: Mapping[str, Any], mv: ModelVersion, *, compare: bool = True) -> None:
        """Raise GateError when the model fails ``evaluation.gates``: on its registered held-out metrics
        (``check_gates``) or in the latest ``tesla evaluate`` recorded for it (a gate it failed there)."""
        check_gates(gates, mv, self.project.store, compare=compare)
        recorded = self.project.store.evaluations(mv.name, mv.version)
        current = {(metric, text) for metric, text, _, _ in _rules(gates)}  # a verdict under an old rule does not count
        failed = [g for g in (recorded[0].metrics.get("gates") or [])
                  if not g["passed"] and (g["metric"], g["rule"]) in current] if recorded else []
        if failed:
            raise GateError(f"{failed[0]['message']} in its latest evaluation on '{recorded[0].data}' "
                            f"({recorded[0].created_at}); the current deployment is unchanged",
                            key=f"evaluation.gates.{failed[0]['metric']}")


def gate_results(gates: Mapping[str, Any], metrics: Mapping[str, Any], ref: str) -> list[dict[str, Any]]:
    """The verdict of every absolute (``min``/``max``) gate on ``metrics``: metric, rule, value, passed, message.

    ``vs`` rules compare with a deployed champion and are left to deploy. A gated metric the evaluation
    did not compute fails, naming the metrics it has.
    """
    out = []
    for metric, text, bound, limit in _rules(gates):
        value = metrics.get(metric)
        if value is None:
            out.append({"metric": metric, "rule": text, "value": None, "passed": False,
                        "message": f"gate on '{metric}' cannot be checked: the evaluation of {ref} has no "
                                   f"'{metric}' (it has {', '.join(sorted(metrics))}); add it to evaluation.metrics"})
            continue
        passed = float(value) >= limit if bound == "min" else float(value) <= limit
        out.append({"metric": metric, "rule": text, "value": float(value), "passed": passed,
                    "message": f"{ref} fails the gate {metric} {text}: it scored {float(value):.4f}"})
    return out


def _rules(gates: Mapping[str, Any]) -> list[tuple[str, str, str, float]]:
    """(metric, rule as written in a verdict, bound, limit) for every ``min`` / ``max`` rule."""
    return [(metric, f"{op} {rule[bound]}", bound, float(rule[bound])) for metric, rule in gates.items()
            for bound, op in (("min", ">="), ("max", "<=")) if bound in rule]


def _gates_html(gates: Sequence[Mapping[str, Any]]) -> str:
    from tesla.report.html import records_table

    rows = [{**g, "verdict": "pass" if g["passed"] else "FAIL"} for g in gates]
    return records_table(rows, ["metric", "rule", "value", "verdict"])


def _with_sections(page: str, sections: Sequence[tuple[str, str]]) -> str:
    """``page`` with (heading, html) sections added at the end of its body."""
    import html as html_lib

    body = "".join(f"<h2>{html_lib.escape(h)}</h2>{b}" for h, b in sections)
    return page.replace("</body>", body + "</body>", 1)


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
