"""Evaluation: task metrics, a dummy baseline, and the HTML report."""

from __future__ import annotations

from tesla.evaluation.metrics import DEFAULT_METRICS, METRICS, compute_metrics, higher_is_better

__all__ = ["DEFAULT_METRICS", "METRICS", "Evaluation", "compute_metrics", "evaluate_bundle", "higher_is_better"]


def __getattr__(name: str):  # noqa: ANN202 - lazy: evaluate pulls in the bundle layer
    if name in {"Evaluation", "evaluate_bundle"}:
        from tesla.evaluation import evaluate

        return getattr(evaluate, name)
    raise AttributeError(name)
