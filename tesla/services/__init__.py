"""The product's five services, one class each, constructed with a ``tesla.Project``.

``DataService`` (datasets), ``TrainingService`` (plans, runs, sweeps, the registry, cloud
jobs), ``EvaluationService`` (scores, predictions, gates), ``DeploymentService`` (model
servers) and ``MonitoringService`` (live traffic, feedback, retraining); ``UserService`` keeps who
may use the project's REST server (users, roles, API tokens). Each works on its
project's one store; the CLI and the REST server are shells over them.
"""

from __future__ import annotations

from tesla.services.data import DataService, LoadResult
from tesla.services.deployments import DeploymentService, DeployResult
from tesla.services.evaluation import EvaluateResult, EvaluationService
from tesla.services.monitoring import MonitoringService
from tesla.services.training import (
    DryRunResult,
    ReplayResult,
    RunReport,
    SweepPlan,
    SweepResult,
    TrainingService,
    TrainResult,
)
from tesla.services.users import CreatedToken, UserService

__all__ = [
    "CreatedToken",
    "DataService",
    "DeployResult",
    "DeploymentService",
    "DryRunResult",
    "EvaluateResult",
    "EvaluationService",
    "LoadResult",
    "MonitoringService",
    "ReplayResult",
    "RunReport",
    "SweepPlan",
    "SweepResult",
    "TrainResult",
    "TrainingService",
    "UserService",
]
