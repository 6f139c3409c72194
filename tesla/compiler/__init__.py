"""Compile a resolved config into a ``Plan``: pure, deterministic, no I/O, no heavy imports.

Everything a step needs is copied into its params, so step bodies never read config. Facts
that need I/O (which dataset version is current, its content hash, the previous model's
best config) are resolved by ``tesla.api`` beforehand and passed in as plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tesla.plan import ArtifactRef, Plan, Step

__all__ = ["DatasetInput", "FileInput", "compile_evaluate", "compile_train"]


@dataclass(frozen=True)
class DatasetInput:
    """A resolved dataset version (content-addressed).

    ``version`` is the store version the config names (``data.dataset`` / ``data.version``): part of
    the plan, since a team store gives the same number on every machine. A ``data.source`` file has
    ``version=None``: its identity is its content (``sha256``, of the canonical Parquet bytes ingest
    writes), while the number a store allocates it depends on that store's history, so it is only
    ``recorded_version``, shown in the plan's meta and never fingerprinted.
    """

    name: str
    version: int | None
    sha256: str
    format: str
    target: str | None
    recorded_version: int | None = None

    @property
    def label(self) -> str:
        """``name@version`` where a version is known (pinned or recorded), else the name."""
        version = self.version if self.version is not None else self.recorded_version
        return self.name if version is None else f"{self.name}@{version}"


@dataclass(frozen=True)
class FileInput:
    """A file already placed in the artifact store (e.g. a test set given on the command line)."""

    sha256: str
    format: str
    label: str  # what the user called it (file name), shown in reports


def _search_params(search: Mapping[str, Any], warm_start: Mapping[str, Any] | None) -> dict[str, Any]:
    keys = ("framework", "estimators", "metric", "max_iter", "time_budget_s", "eval_method", "n_splits",
            "ensemble", "refit", "seed", "n_jobs", "search_space", "learner_selector")
    params = {k: search[k] for k in keys}
    params["starting_points"] = dict(warm_start or {})
    for key in ("max_predict_ms_per_row", "onehot_max_levels"):  # only when set: other plans keep their fingerprints
        if search.get(key) is not None:
            params[key] = search[key]
    if search.get("categoricals", "onehot") != "onehot":  # likewise
        params["categoricals"] = search["categoricals"]
    if search.get("n_concurrent_trials", 1) > 1:  # likewise: sequential plans keep their fingerprints
        params["n_concurrent_trials"] = search["n_concurrent_trials"]
    return params


def _evaluation_params(evaluation: Mapping[str, Any], *, choose_threshold: bool) -> dict[str, Any]:
    """The evaluate step's optional params, present only when set: default plans keep their fingerprints."""
    extra: dict[str, Any] = {}
    threshold = evaluation.get("threshold") or {}
    if choose_threshold and threshold.get("objective", "none") != "none":
        extra["threshold"] = dict(threshold)
    if evaluation.get("slices"):
        extra["slices"] = list(evaluation["slices"])
    if not evaluation.get("importance", True):
        extra["importance"] = False
    return extra


def compile_train(cfg: Mapping[str, Any], dataset: DatasetInput, *, model_name: str,
                  test_file: FileInput | None = None,
                  warm_start: Mapping[str, Any] | None = None) -> Plan:
    """The training plan: load -> split -> search -> evaluate -> register.

    Args:
        cfg: the resolved config as plain dicts.
        dataset: the dataset version to train on.
        model_name: the registered model name.
        test_file: evaluate on this file instead of the held-out split.
        warm_start: estimator -> best config of an earlier version (``search.starting_points=previous``).
    """
    data, search, evaluation = cfg["data"], cfg["search"], cfg["evaluation"]
    steps: dict[str, Step] = {}

    def add(step: Step) -> Step:
        steps[step.id] = step
        return step

    add(Step.create("load", "load", {
        "dataset": dataset.name, "version": dataset.version, "format": dataset.format,
        "target": data["target"] or dataset.target, "task": data["task"],
        "include": list(data["include"]), "exclude": list(data["exclude"]),
    }, inputs={"source": ArtifactRef("source", sha256=dataset.sha256)}, outputs=("table", "schema")))
    add(Step.create("split", "split", dict(data["split"]),
                            inputs={"table": ArtifactRef("table", step="load"),
                                    "schema": ArtifactRef("schema", step="load")},
                            outputs=("train", "test"), upstream=steps))
    # search.refit: the search also fits its winner on the held-out rows ("final", what is registered);
    # evaluate scores "model", fitted on the training rows only
    refit = bool(search["refit"])
    search_step = add(Step.create("search", "search", _search_params(search, warm_start),
                                  inputs={"train": ArtifactRef("train", step="split"),
                                          "schema": ArtifactRef("schema", step="load"),
                                          **({"test": ArtifactRef("test", step="split")} if refit else {})},
                                  outputs=("model", "trials", *(("final",) if refit else ())), upstream=steps))
    test_ref = (ArtifactRef("test", sha256=test_file.sha256) if test_file else ArtifactRef("test", step="split"))
    add(Step.create("evaluate", "evaluate", {
        "metrics": list(evaluation["metrics"]), "title": f"Evaluation of {model_name}",
        "source": test_file.label if test_file else "held-out split",
        "format": test_file.format if test_file else "parquet",
        **_evaluation_params(evaluation, choose_threshold=True),
        # the run's budget bounds the report's importance too (only when set: other plans keep their fingerprints)
        **({"time_budget_s": search["time_budget_s"]} if search.get("time_budget_s") is not None else {}),
    }, inputs={"model": ArtifactRef("model", step="search"), "test": test_ref},
        outputs=("metrics", "report"), upstream=steps))
    add(Step.create("register", "register", {
        "model": model_name, "dataset": dataset.name, "dataset_version": dataset.version,
        "dataset_sha256": dataset.sha256, "training_fingerprint": search_step.fingerprint,
    }, inputs={"model": ArtifactRef("final" if refit else "model", step="search"),
               "metrics": ArtifactRef("metrics", step="evaluate")},
        outputs=("bundle",), upstream=steps, placement="control"))
    meta = {"model": model_name, "dataset": dataset.label,
            "framework": search["framework"], "max_iter": search["max_iter"]}
    return Plan(name=f"train/{model_name}", steps=tuple(steps.values()), backend=dict(cfg["backend"]), meta=meta)


def compile_evaluate(cfg: Mapping[str, Any], *, model_ref: str, bundle_sha: str, test_file: FileInput) -> Plan:
    """The evaluation plan of a registered model on a labelled file: one ``evaluate`` step."""
    step = Step.create("evaluate", "evaluate", {
        "metrics": list(cfg["evaluation"]["metrics"]), "title": f"Evaluation of {model_ref}",
        "source": test_file.label, "format": test_file.format,
        # a registered model decides with the threshold stored at its training: not re-chosen on test rows
        **_evaluation_params(cfg["evaluation"], choose_threshold=False),
    }, inputs={"model": ArtifactRef("model", sha256=bundle_sha), "test": ArtifactRef("test", sha256=test_file.sha256)},
        outputs=("metrics", "report"))
    return Plan(name=f"evaluate/{model_ref.split('@')[0]}", steps=(step,), backend=dict(cfg["backend"]),
                meta={"model": model_ref, "data": test_file.label})
