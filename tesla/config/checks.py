"""Second validation phase: allowed values and ranges, as data plus small registered checks.

Structure and types are already checked by the OmegaConf schema; here each check gets the
resolved config (plain dicts) and raises ``ConfigError`` with the full dotted key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from tesla.errors import ConfigError, did_you_mean

__all__ = ["ALLOWED", "RANGES", "check_config", "register_check"]

Check = Callable[[Mapping[str, Any]], None]
_CHECKS: list[Check] = []

SKLEARN_ESTIMATORS = ("lgbm", "xgboost", "xgb_limitdepth", "rf", "extra_tree", "lrl1", "lrl2", "kneighbor",
                      "catboost", "sgd", "histgb")
NEURAL_ESTIMATORS = ("torch_mlp", "keras_mlp")
SEARCH_METRICS = ("auto", "roc_auc", "roc_auc_ovr", "log_loss", "accuracy", "f1", "micro_f1", "macro_f1",
                  "ap", "r2", "rmse", "mae", "mse", "mape")

# dotted key -> allowed values
ALLOWED: dict[str, tuple[Any, ...]] = {
    "data.task": ("auto", "binary", "multiclass", "regression"),
    "search.framework": ("scikit-learn", "pytorch", "tensorflow", "auto"),
    "search.metric": SEARCH_METRICS,
    "search.eval_method": ("auto", "holdout", "cv"),
    "search.starting_points": ("none", "previous"),
    "search.learner_selector": ("auto", "roundrobin", "cost"),
    "search.categoricals": ("onehot", "native"),
    "deploy.target": ("local", "sagemaker", "vertex"),
    "deploy.unseen_category": ("error", "unknown"),
    "monitor.pvalue_correction": ("bonferroni", "none"),
    "evaluation.threshold.objective": ("none", "f1", "cost", "recall"),
}
# dotted key -> (low, high, low inclusive, high inclusive)
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "data.split.test_size": (0.0, 1.0, False, False),
    "data.split.seed": (0, 2**32 - 1, True, True),  # numpy's seeds
    "data.version": (1, 2**63 - 1, True, True),  # SQLite's INTEGER holds the store's version numbers
    "search.max_iter": (1, math.inf, True, True),
    "search.time_budget_s": (0.0, math.inf, False, True),
    "search.max_predict_ms_per_row": (0.0, math.inf, False, True),
    "search.n_splits": (2, 100, True, True),
    "search.n_jobs": (-1, 1024, True, True),
    "search.onehot_max_levels": (0, 10**6, True, True),
    "search.n_concurrent_trials": (1, 1024, True, True),
    "search.seed": (0, 2**32 - 1, True, True),
    "deploy.port": (0, 65535, True, True),
    "deploy.instance_count": (1, 1000, True, True),
    "deploy.batching.max_batch_size": (1, 100_000, True, True),
    "deploy.batching.max_latency_ms": (0.0, 10_000.0, True, True),
    "monitor.psi_threshold": (0.0, math.inf, False, True),
    "monitor.pvalue_threshold": (0.0, 1.0, False, False),
    "monitor.wasserstein_threshold": (0.0, math.inf, False, True),
    "monitor.js_threshold": (0.0, 1.0, False, True),
    "monitor.large_sample_rows": (1, math.inf, True, True),
    "monitor.min_rows": (1, math.inf, True, True),
    "monitor.max_error_rate": (0.0, 1.0, True, True),
    "monitor.max_p99_latency_ms": (0.0, math.inf, False, True),
    "monitor.max_metric_drop": (0.0, math.inf, True, True),
    "monitor.max_error_increase": (0.0, math.inf, True, True),
    "evaluation.threshold.target_recall": (0.0, 1.0, False, True),
    "evaluation.threshold.cost_fp": (0.0, math.inf, True, True),
    "evaluation.threshold.cost_fn": (0.0, math.inf, True, True),
    "evaluation.bootstrap_samples": (10, 100_000, True, True),
}


def register_check(fn: Check) -> Check:
    """Add ``fn`` to the checks run by ``check_config``."""
    _CHECKS.append(fn)
    return fn


def _get(cfg: Mapping[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _did_you_mean(value: Any, allowed: tuple[Any, ...]) -> str:
    return did_you_mean(value, allowed)


@register_check
def _allowed_values(cfg: Mapping[str, Any]) -> None:
    for key, allowed in ALLOWED.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ConfigError(f"'{key}' must be one of {', '.join(map(str, allowed))}; got '{value}'."
                              + _did_you_mean(value, allowed), key=key)


@register_check
def _ranges(cfg: Mapping[str, Any]) -> None:
    for key, (lo, hi, lo_in, hi_in) in RANGES.items():
        value = _get(cfg, key)
        if value is None:
            continue
        ok = (value >= lo if lo_in else value > lo) and (value <= hi if hi_in else value < hi)
        if not ok:
            interval = f"{'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"
            raise ConfigError(f"'{key}' must be in the range {interval}; got {value}", key=key)


@register_check
def _deploy_workers(cfg: Mapping[str, Any]) -> None:
    import os

    limit = (os.cpu_count() or 1) * 4
    for key, what in (("workers", "server processes"), ("predict_threads", "predict calls at once per process")):
        value = cfg["deploy"].get(key, 1)
        if not 1 <= value <= limit:
            raise ConfigError(f"'deploy.{key}' must be between 1 and {limit} (4 x this machine's {os.cpu_count()} "
                              f"CPUs); got {value}. Set deploy.{key}=N with N {what}", key=f"deploy.{key}")


@register_check
def _estimators(cfg: Mapping[str, Any]) -> None:
    framework = cfg["search"]["framework"]
    allowed = {"scikit-learn": SKLEARN_ESTIMATORS, "pytorch": ("torch_mlp",),
               "tensorflow": ("keras_mlp",), "auto": SKLEARN_ESTIMATORS + NEURAL_ESTIMATORS}[framework]
    for name in cfg["search"]["estimators"]:
        if name not in allowed:
            raise ConfigError(f"estimator '{name}' in search.estimators is not a {framework} learner; allowed: "
                              f"{', '.join(allowed)}.{_did_you_mean(name, allowed)}", key="search.estimators")


@register_check
def _search_space(cfg: Mapping[str, Any]) -> None:
    from tesla.config.search_space import check_search_space

    framework = cfg["search"]["framework"]
    allowed = {"scikit-learn": SKLEARN_ESTIMATORS, "pytorch": ("torch_mlp",),
               "tensorflow": ("keras_mlp",), "auto": SKLEARN_ESTIMATORS + NEURAL_ESTIMATORS}[framework]
    check_search_space(cfg["search"]["search_space"], allowed)


@register_check
def _ensemble(cfg: Mapping[str, Any]) -> None:
    search = cfg["search"]
    if not search["ensemble"]:
        return
    # an empty list means the framework's defaults, which hold neural learners unless scikit-learn
    neural = ([e for e in search["estimators"] if e in NEURAL_ESTIMATORS] if search["estimators"]
              else [] if search["framework"] == "scikit-learn" else [f"-f {search['framework']}'s defaults"])
    if neural:
        raise ConfigError(f"search.ensemble stacks scikit-learn-family learners only, not {', '.join(neural)}; "
                          "list scikit-learn learners in search.estimators or set search.ensemble=false",
                          key="search.ensemble")


@register_check
def _gates(cfg: Mapping[str, Any]) -> None:
    for metric, rule in cfg["evaluation"]["gates"].items():
        if not isinstance(rule, Mapping) or not set(rule) <= {"min", "max", "min_delta", "vs"} or not rule:
            raise ConfigError(f"evaluation.gates.{metric} must be a mapping with 'min' and/or 'max' (optionally "
                              f"'vs: production' and 'min_delta'); got {rule!r}", key=f"evaluation.gates.{metric}")


def check_config(cfg: Mapping[str, Any]) -> None:
    """Run every registered check on the resolved config (plain dicts)."""
    for check in _CHECKS:
        check(cfg)
