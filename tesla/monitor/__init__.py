"""Monitoring: drift of live traffic against training data, live metrics, latency, errors, retrain.

``check_deployment`` runs one check; ``tesla.monitor.drift`` holds the size-aware tests,
``captures`` reads what the server logged, ``report`` renders, ``retrain.retrain`` closes the
loop (not re-exported here: the name would clash with its module).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Alert",
    "DriftThresholds",
    "FeatureDrift",
    "FeedbackResult",
    "MonitorReport",
    "MonitorSettings",
    "RetrainOutcome",
    "check_deployment",
    "feature_drift",
    "record_feedback",
    "report_html",
    "report_text",
    "write_report",
]

_HOME = {"Alert": "results", "MonitorReport": "results", "MonitorSettings": "results", "DriftThresholds": "results",
         "FeatureDrift": "results", "RetrainOutcome": "results", "FeedbackResult": "results",
         "check_deployment": "monitor", "feature_drift": "drift",
         "report_html": "report", "report_text": "report", "write_report": "report",
         "record_feedback": "feedback"}


def __getattr__(name: str) -> Any:
    # lazy: the drift tests need numpy and scipy, which the serving path's capture writer does not
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"tesla.monitor.{_HOME[name]}"), name)
    raise AttributeError(name)
