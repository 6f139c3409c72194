"""Strict validation of SageMaker requests against botocore's service model, plus server-only rules.

botocore checks only required members, types and ``min`` before sending; neither it nor moto
checks ``max``, ``enum`` or ``pattern``, so a 64-character job name, an underscore in a name
or ``InstanceType="m5.large"`` would only fail on the real service. ``request_errors`` walks
the operation's input shape and checks all of them, then the rules the service enforces that
are not in the model (``SERVER_RULES``). It runs on every request Tesla renders (``tesla plan
--dry-run``, and before each submit) and, hooked on a boto3 session, on every call a test makes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

# botocore (not boto3) reads the service model shipped in its wheel: no network, no credentials
import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator

__all__ = ["SERVER_RULES", "install_strict_validation", "request_errors"]

MAX_RUNTIME_S = 28 * 24 * 3600  # the service's ceiling for MaxRuntimeInSeconds (not in the model)


@cache
def _pattern(pattern: str) -> Callable[[str], Any] | None:
    """A whole-value matcher; AWS patterns use ``\\p{..}`` classes, which need the ``regex`` package."""
    try:
        import regex  # lazy and optional: the dev extra installs it so every pattern is checked

        return regex.compile(pattern).fullmatch
    except ImportError:
        try:
            return re.compile(pattern).fullmatch
        except re.error:
            return None  # \p{..} without `regex`: skipped rather than guessed


@cache
def _input_shape(service: str, operation: str) -> Shape:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


def _walk(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            if key in shape.members:
                _walk(shape.members[key], item, f"{path}.{key}", errors)
    elif kind == "list" and isinstance(value, list):
        if len(value) > meta.get("max", len(value)):
            errors.append(f"{path}: {len(value)} items, more than the allowed {meta['max']}")
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{i}]", errors)
    elif kind == "map" and isinstance(value, Mapping):
        if len(value) > meta.get("max", len(value)):
            errors.append(f"{path}: {len(value)} entries, more than the allowed {meta['max']}")
        for key, item in value.items():
            _walk(shape.key, key, f"{path} key {key!r}", errors)
            _walk(shape.value, item, f"{path}[{key!r}]", errors)
    elif kind == "string" and isinstance(value, str):
        _check_string(shape, value, path, errors)
    elif kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        if value > meta.get("max", value):
            errors.append(f"{path}: {value} is above the maximum {meta['max']}")


def _check_string(shape: Shape, value: str, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if len(value) > meta.get("max", len(value)):
        errors.append(f"{path}: {len(value)} characters, more than the allowed {meta['max']}")
    if shape.enum and value not in shape.enum:
        # instance types all start with ml.; a missing prefix is the usual slip
        close = [f"ml.{value}"] if f"ml.{value}" in shape.enum else difflib.get_close_matches(value, shape.enum, n=1)
        errors.append(f"{path}: {value!r} is not one of the {len(shape.enum)} allowed values"
                      + (f"; did you mean {close[0]!r}?" if close else ""))
    matcher = _pattern(meta["pattern"]) if "pattern" in meta else None
    if matcher is not None and not matcher(value):
        errors.append(f"{path}: {value!r} does not match the pattern {meta['pattern']}")


def _spot_rules(params: Mapping[str, Any]) -> list[str]:
    stop = params.get("StoppingCondition") or {}
    runtime, wait = stop.get("MaxRuntimeInSeconds"), stop.get("MaxWaitTimeInSeconds")
    errors = []
    if runtime is not None and runtime > MAX_RUNTIME_S:
        errors.append(f"StoppingCondition.MaxRuntimeInSeconds: {runtime} is above the service's 28-day limit "
                      f"({MAX_RUNTIME_S})")
    if params.get("EnableManagedSpotTraining"):
        if wait is None:
            errors.append("StoppingCondition.MaxWaitTimeInSeconds: required with EnableManagedSpotTraining")
        elif runtime is not None and wait < runtime:
            errors.append(f"StoppingCondition.MaxWaitTimeInSeconds: {wait} is below MaxRuntimeInSeconds "
                          f"{runtime}; spot jobs need MaxWait >= MaxRuntime")
    elif wait is not None:
        errors.append("StoppingCondition.MaxWaitTimeInSeconds: only allowed with EnableManagedSpotTraining")
    return errors


# operation -> rules the service enforces that the botocore model does not express
SERVER_RULES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "CreateTrainingJob": _spot_rules,
}


def request_errors(operation: str, params: Mapping[str, Any], *, service: str = "sagemaker") -> list[str]:
    """Every way ``params`` breaks the service model or a known server rule (empty when valid).

    Args:
        operation: the API operation name, e.g. ``CreateTrainingJob``.
        params: the request as boto3 would receive it.
        service: the botocore service name.

    Returns:
        One message per problem, each naming the request path, e.g.
        ``CreateTrainingJob.TrainingJobName: 'a_b' does not match the pattern ...``.
    """
    shape = _input_shape(service, operation)
    errors: list[str] = []
    report = ParamValidator().validate(dict(params), shape)
    if report.has_errors():
        errors += [line.strip() for line in report.generate_report().splitlines() if line.strip()
                   and not line.startswith("Parameter validation failed")]
    _walk(shape, params, operation, errors)
    rule = SERVER_RULES.get(operation) if service == "sagemaker" else None
    if rule is not None:
        errors += [f"{operation}.{e}" for e in rule(params)]
    return errors


def install_strict_validation(events: Any, services: tuple[str, ...] = ("sagemaker", "sagemaker-runtime")) -> None:
    """Check every call made through ``events`` (a session's or client's event emitter).

    A call that breaks the model raises ``ValueError`` before anything is sent.
    """

    def check(params: Mapping[str, Any], model: Any, **_kw: Any) -> None:
        errors = request_errors(model.name, params, service=model.service_model.service_name)
        if errors:
            raise ValueError(f"{model.name}: " + "; ".join(errors))

    for service in services:
        events.register(f"provide-client-params.{service}", check)
