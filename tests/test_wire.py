"""tesla.wire: a service result sent as JSON comes back as the same object."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tesla.errors import ConfigError, DataNotFoundError, PermissionDenied, TeslaError
from tesla.plan import Plan
from tesla.services.data import LoadResult
from tesla.store import DatasetVersion, ModelVersion
from tesla.wire import decode, encode, error_body, error_from_body


def _over_json(hint: Any, value: Any) -> Any:
    return decode(hint, json.loads(json.dumps(encode(value), allow_nan=False)))


def test_a_load_result_round_trips() -> None:
    v = DatasetVersion(**{f: _sample(f) for f in DatasetVersion.__dataclass_fields__})
    res = LoadResult(version=v, created=True)
    assert _over_json(LoadResult, res) == res


def _sample(name: str) -> Any:
    hint = DatasetVersion.__dataclass_fields__[name].type
    if "int" in str(hint):
        return 3
    if "dict" in str(hint):
        return {"a": {"type": "numeric"}}
    return f"value of {name}"


@dataclass
class _Nested:
    model: ModelVersion | None
    paths: list[Path]
    scores: dict[str, float]
    pairs: list[tuple[list[str], int]]
    extra: dict[str, Any] = field(default_factory=dict)


def test_nested_types_paths_and_non_finite_floats_round_trip() -> None:
    mv = ModelVersion(**{f: _model_sample(f) for f in ModelVersion.__dataclass_fields__
                         if ModelVersion.__dataclass_fields__[f].init})
    value = _Nested(model=mv, paths=[Path("/tmp/a"), Path("b/c")], scores={"rmse": math.inf, "nan": math.nan,
                                                                         "ok": 0.5},
                    pairs=[(["x=1"], 2)], extra={"n": 1, "s": "t"})
    back = _over_json(_Nested, value)
    assert back.model == mv
    assert back.paths == value.paths and all(isinstance(p, Path) for p in back.paths)
    assert back.scores["rmse"] == math.inf and math.isnan(back.scores["nan"]) and back.scores["ok"] == 0.5
    assert back.pairs == [(["x=1"], 2)] and back.extra == {"n": 1, "s": "t"}


def _model_sample(name: str) -> Any:
    hint = str(ModelVersion.__dataclass_fields__[name].type)
    if "int" in hint and "str" not in hint:
        return 2
    if "dict" in hint:
        return {"accuracy": 0.9}
    if "tuple" in hint:
        return ("production", "staging")
    return f"v-{name}"


def test_a_plan_round_trips_through_its_own_dict() -> None:
    plan = Plan(name="p", steps=(), backend={"name": "local"}, meta={"model": "m"})
    back = _over_json(Plan, plan)
    assert isinstance(back, Plan) and back.to_dict() == plan.to_dict() and back.fingerprint == plan.fingerprint


def test_optional_none_and_unions() -> None:
    assert decode(int | None, None) is None
    assert decode(str | Path, "a/b") == "a/b"
    assert decode(Path | None, "a/b") == Path("a/b")


@pytest.mark.parametrize("exc", [ConfigError("bad key search.metric", key="search.metric"),
                                 DataNotFoundError("no dataset 'x'", key="x"),
                                 PermissionDenied("alice has role read; write needed")])
def test_errors_come_back_as_the_same_class_message_and_key(exc: TeslaError) -> None:
    back = error_from_body(json.loads(json.dumps(error_body(exc))))
    assert type(back) is type(exc) and str(back) == str(exc) and back.key == exc.key


def test_an_unknown_error_type_is_still_a_tesla_error() -> None:
    back = error_from_body({"error": {"type": "SomethingNew", "message": "m", "key": None}})
    assert type(back) is TeslaError and str(back) == "m"


def test_a_value_json_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="object"):
        encode(object())
