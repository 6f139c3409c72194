"""Every public service method returns something ``tesla.wire`` carries: its annotation names a type
a remote client can rebuild, and a sample of that type comes back equal after JSON.

The service classes are iterated, so a new method is checked without anyone adding it here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import tesla.services
from tesla import wire
from tesla.plan import Plan, Step
from tesla.store import Deployment, Run, StepRecord
from tesla.store.records import DeploymentStatus, SweepPoint

# methods whose result cannot travel, and why; each is a known gap, not a pass
NOT_ON_THE_WIRE = {
    "TrainingService.config": "returns the composed OmegaConf node next to the plain dict; the node stays in-process",
    "EvaluationService.predict": "returns a pandas DataFrame (the file it wrote is what a remote caller gets)",
    "TrainingService.jobs_list": "the cloud backends' JobAdmin answers provider job dicts; no JobInfo record yet",
    "TrainingService.jobs_status": "as jobs_list",
    "TrainingService.jobs_cancel": "as jobs_list",
}

SERVICES = [getattr(tesla.services, name) for name in tesla.services.__all__ if name.endswith("Service")]
METHODS = [(cls, name) for cls in SERVICES for name, fn in inspect.getmembers(cls, inspect.isfunction)
           if not name.startswith("_")]
CARRIED = [(c, n) for c, n in METHODS if f"{c.__name__}.{n}" not in NOT_ON_THE_WIRE]


def _plan() -> Plan:
    return Plan(name="train/m", steps=(Step.create("load", "load", {"source": "x.csv"}, outputs=["data"]),),
                meta={"model": "m"})


_SAMPLES: dict[type, Callable[[], Any]] = {Plan: _plan, Path: lambda: Path("/p/report.html"),
                                           dt.datetime: lambda: dt.datetime(2026, 1, 2, 3, 4, 5)}


def sample(hint: Any) -> Any:
    """A value of the type ``hint`` names, every field filled (a JSON column gets a small mapping)."""
    if hint is Any:
        return {"k": [1, "two", None]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return sample(next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        return args[0]
    if origin in (list, set, frozenset) or origin is typing.get_origin(typing.Sequence[int]):
        return [sample(args[0] if args else Any)]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample(args[0]),)
        return tuple(sample(a) for a in args)
    if origin in (dict, Mapping) or origin is typing.get_origin(typing.Mapping[str, int]):
        return {"key": sample(args[1] if len(args) == 2 else Any)}
    if hint is type(None) or hint is None:
        return None
    if hint in _SAMPLES:
        return _SAMPLES[hint]()
    if dataclasses.is_dataclass(hint):
        fields = typing.get_type_hints(hint)
        return hint(**{f.name: sample(fields[f.name]) for f in dataclasses.fields(hint) if f.init})
    return {bool: True, int: 7, float: 0.25, str: "text"}[hint]


def _precise(hint: Any) -> None:
    """``hint`` names no ``Any`` outside a dataclass: not ``list[Any]``, not a raw ``dict[str, Any]`` row.

    Inside a record a JSON column is a ``dict[str, Any]`` field; as a whole result it is a dict the
    client can only pass on, so a result is a record or a result dataclass.
    """
    assert hint is not Any, "annotate the type the method returns, not Any"
    for arg in typing.get_args(hint):
        if arg is not type(None) and arg is not Ellipsis:
            _precise(arg)


@pytest.mark.parametrize(("cls", "name"), CARRIED, ids=[f"{c.__name__}.{n}" for c, n in CARRIED])
def test_every_service_result_round_trips_through_the_wire(cls: type, name: str) -> None:
    hint = typing.get_type_hints(getattr(cls, name))["return"]
    _precise(hint)
    value = sample(hint)
    assert wire.decode(hint, json.loads(json.dumps(wire.encode(value)))) == value


def test_the_sampler_reaches_the_records() -> None:
    """The round trip above would prove nothing if the samples were empty."""
    names = {n for _, n in METHODS}
    assert {"runs", "trials", "run_report", "list", "status", "logs", "history"} <= names
    status = sample(DeploymentStatus)
    assert isinstance(status, Deployment) and status.health and status.info
    back = wire.decode(list[DeploymentStatus], wire.encode([status]))
    assert back == [status] and type(back[0]) is DeploymentStatus
    assert isinstance(sample(Run).meta, dict) and isinstance(sample(StepRecord).outputs["key"], str)
    assert sample(SweepPoint).rank == 7


def test_a_vague_annotation_is_refused() -> None:
    for vague in (Any, list[Any], dict[str, Any], tuple[Deployment, Any], list[dict[str, Any]] | None):
        with pytest.raises(AssertionError):
            _precise(vague)
    _precise(tuple[Deployment, str] | None)


def test_the_methods_left_off_the_wire_exist() -> None:
    """The exceptions above name real methods, so the list cannot outlive a fix."""
    assert set(NOT_ON_THE_WIRE) <= {f"{c.__name__}.{n}" for c, n in METHODS}
