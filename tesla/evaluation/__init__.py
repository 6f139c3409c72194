"""Evaluation: task metrics, a dummy baseline, plots, decisions, comparisons and the HTML report.

Every name loads on first use: the metrics and plots pull in numpy, scikit-learn and matplotlib,
and result types (``Delta``) must be importable by the REST layer without them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_METRICS", "METRICS", "Delta", "Evaluation", "compute_metrics", "evaluate_bundle",
           "higher_is_better"]

_HOME = {"DEFAULT_METRICS": "metrics", "METRICS": "metrics", "compute_metrics": "metrics",
         "higher_is_better": "metrics", "Evaluation": "evaluate", "evaluate_bundle": "evaluate", "Delta": "delta"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"tesla.evaluation.{_HOME[name]}"), name)
    raise AttributeError(name)
