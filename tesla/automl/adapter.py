"""The one adapter around FLAML's ``AutoML.fit`` (57 parameters): only Tesla's knobs pass.

Reproducibility: with ``time_budget_s`` unset the search is bounded by ``max_iter`` alone,
runs single-threaded (``n_jobs=1``) and seeded, so the same data and seed give the same
best estimator, config and loss.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FRAMEWORKS", "CUSTOM_LEARNERS", "SearchResult", "default_estimators", "flaml_metric", "search"]

SKLEARN_CLASSIFIERS = ("lgbm", "xgboost", "rf", "extra_tree", "lrl1")
SKLEARN_REGRESSORS = ("lgbm", "xgboost", "rf", "extra_tree")
FRAMEWORKS = ("scikit-learn", "pytorch", "tensorflow", "auto")

# estimator name -> ("module:Class" of a FLAML learner, framework, pip extra)
CUSTOM_LEARNERS: dict[str, tuple[str, str, str]] = {
    "torch_mlp": ("tesla.automl.torch_learner:TorchMLPEstimator", "pytorch", "pytorch"),
    "keras_mlp": ("tesla.automl.keras_learner:KerasMLPEstimator", "tensorflow", "tensorflow"),
}

# log_loss for classification: a proper scoring rule keeps probabilities calibrated, so
# accuracy/F1 at the 0.5 threshold stay meaningful (roc_auc alone picks underfit models)
DEFAULT_METRIC = {"binary": "log_loss", "multiclass": "log_loss", "regression": "r2"}


def default_estimators(framework: str, task: str) -> list[str]:
    """FLAML estimator names searched when ``search.estimators`` is empty."""
    sklearn = list(SKLEARN_REGRESSORS if task == "regression" else SKLEARN_CLASSIFIERS)
    neural = {"pytorch": ["torch_mlp"], "tensorflow": ["keras_mlp"]}
    if framework == "scikit-learn":
        return sklearn
    if framework == "auto":
        return sklearn + neural["pytorch"] + neural["tensorflow"]
    return neural[framework]


def estimator_framework(estimator: str) -> str:
    return CUSTOM_LEARNERS[estimator][1] if estimator in CUSTOM_LEARNERS else "scikit-learn"


def flaml_metric(metric: str, task: str) -> str:
    return DEFAULT_METRIC[task] if metric == "auto" else metric


@dataclass
class SearchResult:
    """The outcome of a search: the winner (fitted on all training rows) and every trial."""

    best_estimator: str
    best_config: dict[str, Any]
    best_loss: float
    model: Any
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_loss_per_estimator: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


def _read_trials(log_path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not log_path.exists():
        return rows
    best = float("inf")
    for line in log_path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if "learner" not in rec:
            continue  # FLAML's closing "curr_best_record_id" line
        loss = rec.get("validation_loss")
        best = min(best, loss) if loss is not None else best
        rows.append({"n": len(rows) + 1, "estimator": rec["learner"], "loss": loss, "best_loss": best,
                     "config": rec.get("config", {}), "wall_s": rec.get("wall_clock_time"),
                     "trial_s": rec.get("trial_time")})
    return rows


class _TrialWatcher(threading.Thread):
    """Reads FLAML's trial log while it is written and reports progress."""

    def __init__(self, log_path: Path, total: int, report: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(daemon=True)
        self.log_path, self.total, self.report = log_path, total, report
        self.stop = threading.Event()
        self._seen = 0

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.poll()

    def poll(self) -> None:
        trials = _read_trials(self.log_path)
        if len(trials) > self._seen:
            self._seen = len(trials)
            last = trials[-1]
            self.report({"trials": len(trials), "total": self.total, "best_loss": last["best_loss"],
                         "estimator": last["estimator"]})


def _register_learners(automl: Any, estimators: Sequence[str]) -> None:
    import importlib

    for name in estimators:
        if name not in CUSTOM_LEARNERS:
            continue
        target, framework, extra = CUSTOM_LEARNERS[name]
        module, _, cls = target.partition(":")
        try:
            learner = getattr(importlib.import_module(module), cls)
        except ImportError as exc:
            raise DependencyError(f"-f {framework} needs {exc.name}, which is not installed; run: "
                                  f"pip install 'tesla-ml[{extra}]'") from exc
        automl.add_learner(learner_name=name, learner_class=learner)


def search(X: pd.DataFrame, y: Any, *, task: str, estimators: Sequence[str], metric: str,
           max_iter: int, time_budget_s: float | None, eval_method: str, n_splits: int,
           ensemble: bool, seed: int, n_jobs: int, workdir: Path,
           search_space: Mapping[str, Any] | None = None,
           starting_points: Mapping[str, Any] | None = None,
           progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run FLAML's search over ``estimators`` and return the refitted winner.

    Args:
        X: all-numeric training features.
        y: labels encoded 0..k-1 (classification) or values (regression).
        task: binary, multiclass or regression.
        estimators: FLAML estimator names (custom ones from CUSTOM_LEARNERS are registered).
        metric: a FLAML metric name, or ``auto``.
        max_iter: number of trials.
        time_budget_s: wall-clock budget; None for a trial-bounded, reproducible search.
        eval_method: auto, holdout or cv.
        n_splits: folds for cv.
        ensemble: stack the best learners.
        seed: random seed.
        n_jobs: threads per trial.
        workdir: where FLAML writes its trial log.
        search_space: estimator -> custom_hp overrides in FLAML's format.
        starting_points: estimator -> config to warm-start from.
        progress: receives {"trials", "total", "best_loss", "estimator"} as trials finish.

    Returns:
        The winner refitted on all of ``X``, its config and loss, and every trial.
    """
    from flaml import AutoML  # lazy: ~1-2 s of imports

    if max_iter < 1:
        raise ConfigError(f"search.max_iter must be at least 1; got {max_iter}", key="search.max_iter")
    automl = AutoML()
    _register_learners(automl, estimators)
    log_path = workdir / "flaml.log"
    watcher = _TrialWatcher(log_path, max_iter, progress or (lambda _d: None))
    watcher.start()
    started = time.perf_counter()
    try:
        automl.fit(
            X_train=X, y_train=y, task="regression" if task == "regression" else "classification",
            metric=flaml_metric(metric, task), estimator_list=list(estimators), max_iter=max_iter,
            time_budget=-1 if time_budget_s is None else time_budget_s, eval_method=eval_method,
            n_splits=n_splits, ensemble=ensemble, seed=seed, n_jobs=n_jobs, verbose=0,
            log_file_name=str(log_path), log_type="all", skip_transform=True, retrain_full=True,
            custom_hp=dict(search_space or {}) or None,
            starting_points=dict(starting_points or {}) or "static",
        )
    finally:
        watcher.stop.set()
        watcher.join()
    watcher.poll()
    wall = time.perf_counter() - started
    model = automl.model.estimator if not ensemble else automl.model
    return SearchResult(
        best_estimator=automl.best_estimator, best_config=dict(automl.best_config or {}),
        best_loss=float(automl.best_loss), model=model, metric=flaml_metric(metric, task),
        trials=_read_trials(log_path), wall_s=wall,
        best_loss_per_estimator={k: float(v) for k, v in automl.best_loss_per_estimator.items()
                                 if v is not None and v != float("inf")},
    )
