"""The one adapter around FLAML's ``AutoML.fit`` (57 parameters): only Tesla's knobs pass.

Reproducibility: with ``time_budget_s`` unset the search is bounded by ``max_iter`` alone,
seeded, and no FLAML decision depends on wall-clock time (round-robin over the estimators,
no sample-size schedule), so the same data, settings and seed give the same trials, best
estimator, config and loss on any machine load. ``learner_selector=cost`` trades that
guarantee for FLAML's own time-weighted choice of estimator (better models per trial).

Ensembles (``search.ensemble``): a greedy weighted ensemble over out-of-fold predictions of each
estimator's best configuration (``tesla.automl.ensemble``), kept only when it beats the best single
model; a plain scikit-learn ``VotingClassifier`` / ``VotingRegressor`` of trusted types. FLAML's own
stacking is not used: it ran past the budget and its bundle could not be checked (issue 10).

Concurrent trials: ``n_concurrent_trials`` > 1 runs that many FLAML trials at once on Ray Tune
(the Ray backend's cluster inside its task; else a private local Ray started for the search).
It drops the reproducible trial sequence: FLAML proposes each next config from the trials
finished so far, and which finish first depends on machine load, so the trials (and possibly
the winner) can differ between runs with the same seed. The data, split, seed, estimators and
the trial count (``max_iter``) stay fixed; use 1 where a run must be replayed exactly.

"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.automl.budget import MIN_SEARCH_S
from tesla.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CUSTOM_LEARNERS", "DOMAIN_TYPES", "FRAMEWORKS", "SearchResult", "choose_eval_method", "choose_within_cost",
           "custom_hp", "default_estimators", "flaml_metric", "predict_ms_per_row", "refit", "search"]

# FLAML's own default list (xgb_limitdepth wins many small tables: issue 10)
SKLEARN_CLASSIFIERS = ("lgbm", "xgboost", "xgb_limitdepth", "rf", "extra_tree", "lrl1")
SKLEARN_REGRESSORS = ("lgbm", "xgboost", "xgb_limitdepth", "rf", "extra_tree")
DEFAULT_MAX_ITER = 20  # trials of a search with neither search.max_iter nor a time budget
# FLAML's rule for eval_method=auto (cv while rows x columns is small for the budget), applied
# to the raw feature count: one-hot encoding widens the frame and would flip small data to a holdout
CV_CELLS_PER_HOUR = 10_000_000
CV_MAX_ROWS = 100_000
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
    """The outcome of a search: the winner (fitted on all training rows) and every trial.

    ``ensemble`` names the members when the winner is a weighted ensemble (empty otherwise), with
    their ``ensemble_weights``; ``best_loss`` is then the best single learner's validation loss.
    """

    best_estimator: str
    best_config: dict[str, Any]
    best_loss: float
    model: Any
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_loss_per_estimator: dict[str, float] = field(default_factory=dict)
    best_config_per_estimator: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_method: str = "holdout"
    ensemble: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    # estimator -> milliseconds its best model takes to predict one row (median over repeats of a
    # batch of training rows, preprocessing excluded: the same for every estimator)
    predict_ms_per_row: dict[str, float] = field(default_factory=dict)
    fit_s: float = 0.0  # seconds the winner's last fit on the training rows took (sizes a refit)
    # why the ensemble was not kept (empty: none was asked for, or it was kept)
    ensemble_note: str = ""
    ensemble_weights: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)  # FLAML's fit settings (for ``refit``)
    flaml_s: float | None = None  # the time budget FLAML was held to in the end (None: none)


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
                     "trial_s": rec.get("trial_time"), "sample_size": rec.get("sample_size")})
    return rows


def one_fit_s(trial: Mapping[str, Any], rows: int, eval_method: str, n_splits: int) -> float:
    """Seconds one fit of ``trial``'s config on all ``rows`` takes, from the trial's own time.

    A holdout trial is one fit on its ``sample_size`` rows; a cv trial ``n_splits`` fits on
    ``(n_splits - 1) / n_splits`` of them. Fit time is taken as growing with the rows.
    """
    seconds, sample = float(trial.get("trial_s") or 0.0), int(trial.get("sample_size") or rows)
    fitted = sample * (n_splits - 1) / n_splits if eval_method == "cv" else sample
    fits = n_splits if eval_method == "cv" else 1
    return seconds / fits * rows / max(1.0, fitted)


class _Deadline:
    """Shrinks a running FLAML search's time budget to keep ``hold(one fit of the best trial)`` after it.

    FLAML reads ``AutoML._state.time_budget`` before every trial (its sequential search); the watcher
    thread lowers it from the trial log. Never above the budget FLAML was started with; left alone once
    FLAML has set it to -1 for its final retrain.
    """

    def __init__(self, automl: Any, most_s: float, hold: Callable[[float], float], rows: int,
                 eval_method: str, n_splits: int) -> None:
        self.automl, self.most_s, self.hold = automl, most_s, hold
        self.rows, self.eval_method, self.n_splits = rows, eval_method, n_splits
        self.flaml_s = most_s  # the budget FLAML is held to now

    def update(self, trials: Sequence[Mapping[str, Any]]) -> None:
        timed = [t for t in trials if t.get("loss") is not None and t.get("trial_s")]
        if not timed:
            return
        best = min(timed, key=lambda t: t["loss"])
        fit = one_fit_s(best, self.rows, self.eval_method, self.n_splits)
        want = max(MIN_SEARCH_S, self.most_s - self.hold(fit))
        state = getattr(self.automl, "_state", None)
        current = getattr(state, "time_budget", None)
        if isinstance(current, (int, float)) and current > 0 and want != current:
            state.time_budget = self.flaml_s = want


class _TrialWatcher(threading.Thread):
    """Reads FLAML's trial log while it is written, reports progress and keeps the deadline."""

    def __init__(self, log_path: Path, total: int, report: Callable[[dict[str, Any]], None],
                 deadline: _Deadline | None = None) -> None:
        super().__init__(daemon=True)
        self.log_path, self.total, self.report, self.deadline = log_path, total, report, deadline
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
            if self.deadline is not None and not self.stop.is_set():
                self.deadline.update(trials)
            self.report({"trials": len(trials), "total": self.total, "best_loss": last["best_loss"],
                         "estimator": last["estimator"]})


def _learner_class(name: str) -> Any:
    """The FLAML learner class of a custom estimator, or a DependencyError naming the extra."""
    import importlib

    target, framework, extra = CUSTOM_LEARNERS[name]
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise DependencyError(f"-f {framework} needs {exc.name}, which is not installed; run: "
                              f"pip install 'tesla-ml[{extra}]'") from exc


def _register_learners(automl: Any, estimators: Sequence[str]) -> None:
    for name in estimators:
        if name in CUSTOM_LEARNERS:
            automl.add_learner(learner_name=name, learner_class=_learner_class(name))


# -- search_space (YAML) -> FLAML custom_hp --------------------------------------------------------
# type -> (flaml.tune function, whether ``q`` is passed); Tesla's ``high`` is inclusive for every
# type, so the integer domains whose flaml.tune upper bound is exclusive get ``high + 1``
DOMAIN_TYPES: dict[str, tuple[str, bool]] = {
    "uniform": ("uniform", False), "loguniform": ("loguniform", False),
    "quniform": ("quniform", True), "qloguniform": ("qloguniform", True),
    "randint": ("randint", False), "lograndint": ("lograndint", False), "qrandint": ("qrandint", True),
    "choice": ("choice", False),
}
_EXCLUSIVE_HIGH = {"randint", "lograndint"}


def _domain(spec: Any) -> dict[str, Any]:
    """One hyperparameter of ``search.search_space`` as a FLAML custom_hp entry."""
    from flaml import tune  # lazy: flaml

    if isinstance(spec, list):
        return {"domain": tune.choice(list(spec))}
    if not isinstance(spec, Mapping):
        return {"domain": spec}  # a fixed value
    kind = spec["type"]
    fn, quantized = DOMAIN_TYPES[kind]
    if kind == "choice":
        domain = tune.choice(list(spec["values"]))
    else:
        high = spec["high"] + 1 if kind in _EXCLUSIVE_HIGH else spec["high"]
        domain = getattr(tune, fn)(spec["low"], high, *([spec["q"]] if quantized else []))
    entry: dict[str, Any] = {"domain": domain}
    if "init" in spec:
        entry["init_value"] = spec["init"]
    if "low_cost" in spec:
        entry["low_cost_init_value"] = spec["low_cost"]
    return entry


def _hyperparameters(name: str, task: str, data_size: tuple[int, int]) -> tuple[list[str], set[str]]:
    """(what FLAML searches for ``name``, that plus what its underlying estimator accepts)."""
    from flaml.automl.task.factory import task_factory

    flaml_task = task_factory(task)
    cls = _learner_class(name) if name in CUSTOM_LEARNERS else flaml_task.estimator_class_from_str(name)
    searched = sorted(cls.search_space(data_size=data_size, task=flaml_task))
    try:
        accepted = set(cls(task=flaml_task).estimator_class().get_params())
    except Exception:  # noqa: BLE001  # no default-constructible estimator: FLAML's names only
        accepted = set()
    return searched, accepted | set(searched)


def custom_hp(space: Mapping[str, Mapping[str, Any]], *, task: str,
              data_size: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """``search.search_space`` (its shape checked at compose time) in FLAML's ``custom_hp`` format.

    Args:
        space: estimator -> hyperparameter -> a value, a list (choice) or ``{type, low, high, ...}``.
        task: binary, multiclass or regression.
        data_size: (rows, columns) of the training data; FLAML's spaces depend on it.

    Raises:
        ConfigError: a hyperparameter that neither FLAML nor the estimator knows.
    """
    import difflib

    out: dict[str, dict[str, Any]] = {}
    for name, hps in space.items():
        searched, accepted = _hyperparameters(name, task, data_size)
        for hp in hps:
            if hp not in accepted:
                close = difflib.get_close_matches(hp, sorted(accepted), n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"search.search_space.{name}.{hp}: '{name}' has no hyperparameter '{hp}'.{hint} "
                                  f"FLAML searches: {', '.join(searched)}", key=f"search.search_space.{name}.{hp}")
        out[name] = {hp: _domain(spec) for hp, spec in hps.items()}
    return out


# -- the search ---------------------------------------------------------------------------------------
def _starting_points(points: Mapping[str, Any] | None, estimators: Sequence[str]) -> dict[str, Any] | str:
    """Warm-start configs for the searched estimators, without FLAML's sample-size bookkeeping."""
    out = {name: {k: v for k, v in dict(cfg).items() if k != "FLAML_sample_size"}
           for name, cfg in (points or {}).items() if name in estimators and cfg}
    return out or "static"


def choose_eval_method(eval_method: str, rows: int, columns: int, time_budget_s: float | None) -> str:
    """``eval_method`` with ``auto`` resolved as FLAML would on the raw (unencoded) table."""
    if eval_method != "auto":
        return eval_method
    small = time_budget_s is None or rows * columns / 0.9 < CV_CELLS_PER_HOUR * time_budget_s / 3600
    return "cv" if small and rows < CV_MAX_ROWS else "holdout"


def _fit_settings(*, task: str, estimators: Sequence[str], metric: str, max_iter: int | None,
                  time_budget_s: float | None, eval_method: str, n_splits: int, ensemble: bool, seed: int,
                  n_jobs: int, log_path: Path, hp: dict[str, Any] | None,
                  starting_points: Mapping[str, Any] | None, learner_selector: str) -> dict[str, Any]:
    if max_iter is None and time_budget_s is None:
        max_iter = DEFAULT_MAX_ITER  # with a budget, None: the budget is the only limit
    settings = dict(
        task="regression" if task == "regression" else "classification", metric=flaml_metric(metric, task),
        estimator_list=list(estimators), max_iter=max_iter,
        time_budget=-1 if time_budget_s is None else time_budget_s, eval_method=eval_method, n_splits=n_splits,
        seed=seed, n_jobs=n_jobs, verbose=0, log_type="all", skip_transform=True,
        # one trial is a plain refit (FLAML evaluates nothing), so there is no trial log to write
        log_file_name=str(log_path) if max_iter is None or max_iter > 1 else "",
        # model_history keeps each estimator's best fitted model (FLAML frees every other one), so
        # its predict cost can be measured after the search; it changes no trial
        retrain_full=True, model_history=True, custom_hp=hp, starting_points=_starting_points(starting_points, estimators),
        ensemble=False,  # Tesla's weighted ensemble follows the search (tesla.automl.ensemble)
    )
    if learner_selector == "roundrobin" or (learner_selector == "auto" and time_budget_s is None):
        settings["learner_selector"] = "roundrobin"
    if settings.get("learner_selector") == "roundrobin" and time_budget_s is None:
        # trial-bounded = reproducible: FLAML's cost-aware selector weighs estimators by their
        # measured trial times, and its sample-size schedule grows with elapsed time, so both
        # would make the trial sequence depend on machine load
        settings["sample"] = False
    return settings


def _check_ensemble(estimators: Sequence[str]) -> None:
    """Refuse, before searching, a stack the bundle could not hold."""
    unsafe = [n for n in estimators if n in CUSTOM_LEARNERS]
    if unsafe:
        raise ConfigError(f"search.ensemble stacks scikit-learn-family learners only; drop {', '.join(unsafe)} "
                          "from search.estimators or set search.ensemble=false", key="search.ensemble")


@contextlib.contextmanager
def _concurrent_trials(n: int, workdir: Path) -> Iterator[dict[str, Any]]:
    """FLAML's ``n_concurrent_trials`` on Ray Tune (no settings for n <= 1); see the module docstring.

    Raises:
        DependencyError: n > 1 and ray is not installed.
    """
    if n <= 1:
        yield {}
        return
    try:
        import ray  # lazy: ~1 s and only with concurrent trials
    except ImportError as exc:
        raise DependencyError(f"search.n_concurrent_trials={n} runs trials on Ray Tune, which is not installed; "
                              "run: pip install 'tesla-ml[ray]' (or set search.n_concurrent_trials=1)") from exc
    started = not ray.is_initialized()  # on the Ray backend this task's worker is already connected
    if started:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    quiet = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # Tune's new console output ignores verbose=0; the old one does not
    try:
        # cfo: the search algorithm of sequential runs (FLAML's parallel default, BlendSearch, needs optuna)
        # reuse_actors: a trial runs in a worker kept from the last one; a fresh process per trial
        # (Tune's default) costs seconds of imports, more than a small trial itself
        yield {"n_concurrent_trials": n, "hpo_method": "cfo",
               "use_ray": {"storage_path": str((workdir / "ray_results").resolve()), "reuse_actors": True}}
    finally:
        if quiet is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = quiet
        if started:
            ray.shutdown()



# -- serving cost ---------------------------------------------------------------------------------------
COST_ROWS = 200  # rows in the batch whose predict time is measured
COST_REPEATS = 7  # timed predict calls per model (after one warm-up); the median counts
# with a time budget and no search.max_predict_ms_per_row the costs only inform the leaderboard: one
# timed call each, so that measuring them does not eat the time of the refit (issue 10)
COST_REPEATS_BUDGETED = 1


def predict_ms_per_row(model: Any, X: Any, *, proba: bool = False, repeats: int = COST_REPEATS) -> float:
    """Milliseconds ``model`` takes to predict one row: the median of timed predicts of a batch of ``X``'s rows.

    ``proba``: time ``predict_proba`` (what a classifier serves) instead of ``predict``.
    """
    import statistics

    sample = X.iloc[:COST_ROWS] if hasattr(X, "iloc") else X[:COST_ROWS]
    predict = model.predict_proba if proba else model.predict  # FLAML's regressors have one that raises
    predict(sample)  # warm-up: lazy initialisation is no part of a served request
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(sample)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0 / len(sample)


def _costs(automl: Any, estimators: Sequence[str], X: Any, task: str, repeats: int = COST_REPEATS) -> dict[str, float]:
    """Estimator -> predict cost of its best model (FLAML kept them: ``model_history``)."""
    out: dict[str, float] = {}
    for name in estimators:
        model = automl.best_model_for_estimator(name)
        if model is not None and getattr(model, "estimator", model) is not None:
            out[name] = round(predict_ms_per_row(model, X, proba=task != "regression", repeats=repeats), 6)
    return out


def choose_within_cost(losses: Mapping[str, float], costs: Mapping[str, float], bound: float | None) -> str | None:
    """The lowest-loss estimator whose predict cost is within ``bound`` ms per row (None: no bound, no choice).

    Raises:
        ConfigError: no estimator's best model fits the bound; names the key and the cheapest cost measured.
    """
    if bound is None:
        return None
    ranked = sorted((name for name in losses if name in costs), key=lambda n: (losses[n], n))
    fitting = [n for n in ranked if costs[n] <= bound]
    if fitting:
        return fitting[0]
    cheapest = min(costs, key=lambda n: (costs[n], n)) if costs else None
    measured = f"the cheapest, {cheapest}, takes {costs[cheapest]:.4g} ms" if cheapest else "no cost was measured"
    raise ConfigError(f"search.max_predict_ms_per_row={bound:g}: no searched estimator predicts a row that fast; "
                      f"{measured}; raise search.max_predict_ms_per_row or unset it", key="search.max_predict_ms_per_row")


@contextlib.contextmanager
def _quiet_fits() -> Iterator[None]:
    """Warnings of ordinary fits that their loss already reports or that say nothing to a user."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # a trial whose solver stops short (lrl1 on unscaled data) is an ordinary search outcome
        warnings.simplefilter("ignore", ConvergenceWarning)
        # search.categoricals=native hands LightGBM its category columns as a parameter (it survives
        # scikit-learn's clone, a fit argument would not); LightGBM warns it ignores it, and uses it
        warnings.filterwarnings("ignore", message="categorical_feature keyword has been found")
        yield


def _native_hp(hp: dict[str, Any] | None, estimators: Sequence[str], columns: Sequence[int]) -> dict[str, Any] | None:
    """``hp`` with LightGBM told which of ``columns`` are category codes (none: ``hp`` unchanged)."""
    if not columns or "lgbm" not in estimators:
        return hp
    out = dict(hp or {})
    out["lgbm"] = {**out.get("lgbm", {}), "categorical_feature": {"domain": ",".join(str(c) for c in columns)}}
    return out


def _refit(name: str, config: Mapping[str, Any], X: Any, y: Any, settings: Mapping[str, Any]) -> Any:
    """``name`` with ``config`` fitted on all of ``X`` (one FLAML trial: a plain refit, nothing evaluated)."""
    from flaml import AutoML  # lazy: flaml

    automl = AutoML()
    _register_learners(automl, [name])
    refit = {**settings, "estimator_list": [name], "max_iter": 1, "log_file_name": "", "ensemble": False,
             "time_budget": -1, "model_history": False, "starting_points": _starting_points({name: config}, [name])}
    with _quiet_fits():
        automl.fit(X_train=X, y_train=y, **refit)
    return automl.model.estimator


def search(X: pd.DataFrame, y: Any, *, task: str, estimators: Sequence[str], metric: str,
           max_iter: int | None, time_budget_s: float | None, eval_method: str, n_splits: int,
           ensemble: bool, seed: int, n_jobs: int, workdir: Path,
           search_space: Mapping[str, Any] | None = None,
           starting_points: Mapping[str, Any] | None = None, learner_selector: str = "auto",
           max_predict_ms_per_row: float | None = None, raw_columns: int | None = None,
           allows: Callable[[float], bool] | None = None,
           hold_s: Callable[[float], float] | None = None,
           n_concurrent_trials: int = 1, categorical_columns: Sequence[int] = (),
           progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run FLAML's search over ``estimators`` and return the refitted winner.

    With ``time_budget_s`` None (and ``learner_selector`` auto or roundrobin) the search is
    trial-bounded and reproducible: the same data, settings and seed give the same trials,
    winner, config and loss (see ``_fit_settings``).

    Args:
        X: all-numeric training features.
        y: labels encoded 0..k-1 (classification) or values (regression).
        task: binary, multiclass or regression.
        estimators: FLAML estimator names (custom ones from CUSTOM_LEARNERS are registered).
        metric: a FLAML metric name, or ``auto``.
        max_iter: number of trials; None: 20 without a time budget, no cap with one.
        time_budget_s: wall-clock budget; None for a trial-bounded, reproducible search.
        eval_method: auto, holdout or cv; auto: cv while rows x ``raw_columns`` is small (``choose_eval_method``).
        n_splits: folds for cv.
        ensemble: blend the estimators' best models by greedy weights when that beats the best one.
        seed: random seed.
        n_jobs: threads per trial.
        workdir: where FLAML writes its trial log.
        search_space: ``search.search_space`` (see ``custom_hp``).
        starting_points: estimator -> config to warm-start from.
        learner_selector: auto, roundrobin or cost (FLAML's time-weighted choice of the next estimator).
        max_predict_ms_per_row: the most milliseconds the winner may take to predict one row; the
            lowest-loss estimator within it wins (refitted on all of ``X``). None: no bound.
        raw_columns: the number of features before encoding (default: ``X``'s width).
        allows: whether a phase of that many seconds still fits the run's budget (the ensemble asks).
        hold_s: with ``time_budget_s``: the seconds to keep after the trials when one fit of the best
            config on all of ``X`` takes that many (``Budget.hold_s``); FLAML's budget shrinks by it as
            trials are timed. Sequential trials only: ignored with an ensemble or concurrent trials.
        n_concurrent_trials: trials run at once on Ray Tune; > 1 is not reproducible (module docstring).
        categorical_columns: positions in ``X`` of category codes LightGBM splits on as categories
            (``search.categoricals=native``); the other learners see the codes as numbers.
        progress: receives {"trials", "total", "best_loss", "estimator"} as trials finish.

    Returns:
        The winner refitted on all of ``X``, its config and loss, and every trial.

    Raises:
        ConfigError: a bad ``max_iter`` or search-space hyperparameter, a stack of neural learners, or no
            estimator within ``max_predict_ms_per_row``.
    """
    from flaml import AutoML  # lazy: ~1-2 s of imports

    if max_iter is not None and max_iter < 1:
        raise ConfigError(f"search.max_iter must be at least 1; got {max_iter}", key="search.max_iter")
    if ensemble:
        _check_ensemble(estimators)
    eval_method = choose_eval_method(eval_method, len(X), raw_columns or X.shape[1], time_budget_s)
    automl = AutoML()
    _register_learners(automl, estimators)
    hp = _native_hp(custom_hp(search_space, task=task, data_size=X.shape) if search_space else None,
                    estimators, categorical_columns)
    log_path = workdir / "flaml.log"
    settings = _fit_settings(task=task, estimators=estimators, metric=metric, max_iter=max_iter,
                             time_budget_s=time_budget_s, eval_method=eval_method, n_splits=n_splits,
                             ensemble=ensemble, seed=seed, n_jobs=n_jobs, log_path=log_path, hp=hp,
                             starting_points=starting_points, learner_selector=learner_selector)
    deadline = None
    if hold_s is not None and time_budget_s is not None and not ensemble and n_concurrent_trials <= 1:
        deadline = _Deadline(automl, time_budget_s, hold_s, len(X), eval_method, n_splits)
    watcher = _TrialWatcher(log_path, settings["max_iter"], progress or (lambda _d: None), deadline)
    watcher.start()
    started = time.perf_counter()
    try:
        with _quiet_fits():
            with _concurrent_trials(n_concurrent_trials, workdir) as parallel:
                automl.fit(X_train=X, y_train=y, **settings, **parallel)
    finally:
        watcher.stop.set()
        watcher.join()
    watcher.poll()
    wall = time.perf_counter() - started
    finite = {k: float(v) for k, v in automl.best_loss_per_estimator.items() if v is not None and v != float("inf")}
    configs = {k: dict(v) for k, v in automl.best_config_per_estimator.items() if v and k in finite}
    quick = time_budget_s is not None and max_predict_ms_per_row is None
    costs = _costs(automl, list(finite), X, task, COST_REPEATS_BUDGETED if quick else COST_REPEATS)
    best, best_config, best_loss = automl.best_estimator, dict(automl.best_config or {}), float(automl.best_loss)
    chosen = choose_within_cost(finite, costs, max_predict_ms_per_row)
    if ensemble and max_predict_ms_per_row is not None:
        chosen = None  # the stack is measured as a whole below
    note, weights = "", []
    if chosen is not None and chosen != best:
        model, stacked = _refit(chosen, configs[chosen], X, y, settings), []
        best, best_config, best_loss = chosen, configs[chosen], finite[chosen]
    else:
        model, stacked = automl.model.estimator, []
        if ensemble:
            with _quiet_fits():
                blended, stacked, weights, note = _blend(automl, task, finite, X, y, n_splits, seed, allows)
            model = blended if stacked else model
    if stacked and max_predict_ms_per_row is not None:
        stack_ms = predict_ms_per_row(model, X, proba=task != "regression")
        if stack_ms > max_predict_ms_per_row:
            raise ConfigError(f"search.max_predict_ms_per_row={max_predict_ms_per_row:g}: the weighted ensemble takes "
                              f"{stack_ms:.4g} ms per row; set search.ensemble=false (the cheapest single estimator, "
                              f"{min(costs, key=costs.get)}, takes {min(costs.values()):.4g} ms) or raise the bound",
                              key="search.max_predict_ms_per_row")
    return SearchResult(
        best_estimator=best, best_config=best_config, best_loss=best_loss, model=model,
        metric=flaml_metric(metric, task), trials=_read_trials(log_path), wall_s=wall,
        best_loss_per_estimator=finite, best_config_per_estimator=configs,
        eval_method=str(automl._state.eval_method), ensemble=stacked, predict_ms_per_row=costs,
        fit_s=float(automl.best_config_train_time or 0.0), ensemble_note=note, ensemble_weights=weights,
        settings=settings, flaml_s=deadline.flaml_s if deadline is not None else time_budget_s,
    )


def _blend(automl: Any, task: str, losses: Mapping[str, float], X: Any, y: Any, n_splits: int, seed: int,
           allows: Callable[[float], bool] | None) -> tuple[Any, list[str], list[float], str]:
    """(the weighted ensemble, its members, weights, a note); no members: keep the best single model."""
    from tesla.automl.ensemble import fit_blend

    try:
        models = {name: automl.best_model_for_estimator(name).estimator for name in losses}
        blend = fit_blend(task, {k: v for k, v in models.items() if v is not None}, losses, X, y,
                          n_splits=n_splits, seed=seed, allows=allows or (lambda _s: True))
    except Exception as exc:  # noqa: BLE001  # the ensemble must never lose the search: keep the best single model
        return None, [], [], f"the ensemble was dropped ({type(exc).__name__}: {exc}); the best single model is kept"
    if blend.model is None:
        return None, [], [], blend.note + "; the best single model is kept"
    return blend.model, blend.members, blend.weights, ""


def refit(result: SearchResult, X: pd.DataFrame, y: Any) -> Any:
    """``result``'s winner (its config, or its stack's members) fitted again on ``X``, ``y``.

    Used after evaluation to fit the registered model on every row it may use; the stack is a
    plain scikit-learn stack of native estimators, so a clone refits it the same way.
    """
    from sklearn.base import clone

    if result.ensemble:  # a VotingClassifier / VotingRegressor: clone keeps members and weights
        with _quiet_fits():
            return clone(result.model).fit(X, y)
    return _refit(result.best_estimator, result.best_config, X, y, result.settings)
