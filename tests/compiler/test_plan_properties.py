"""Property: any valid config composes and compiles, and the plan JSON depends on nothing but the config.

Override sets are drawn from what the schema and the checks allow (``tesla.config.checks``'
ALLOWED and RANGES, the framework's estimators, search-space specs), composed through Hydra
like ``tesla plan`` does and compiled with a fixed dataset (no I/O). The same config must give
byte-identical JSON when compiled twice, when its dicts are built in another insertion order,
after a JSON round trip, and in a fresh interpreter with another hash seed and its overrides
in another order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tesla import api
from tesla.compiler import DatasetInput, compile_train
from tesla.config.checks import (
    ALLOWED,
    NEURAL_ESTIMATORS,
    SEARCH_METRICS,
    SKLEARN_ESTIMATORS,
)
from tesla.plan import Plan

DATASET = DatasetInput(name="bc", version=3, sha256="ab" * 32, format="parquet", target="target")
ESTIMATORS = {"scikit-learn": SKLEARN_ESTIMATORS, "pytorch": ("torch_mlp",), "tensorflow": ("keras_mlp",),
              "auto": SKLEARN_ESTIMATORS + NEURAL_ESTIMATORS}
COLUMNS = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), max_size=3, unique=True)
SEEDS = st.integers(0, 2**32 - 1)
_COUPLED = {"search.framework", "search.estimators", "search.ensemble"}


def _list(values: list[Any]) -> str:
    return "[" + ",".join(map(str, values)) + "]"


@st.composite
def _search_space(draw: st.DrawFn, estimators: tuple[str, ...]) -> dict[str, str]:
    """Zero to two hyperparameter specs, as overrides of ``search.search_space.<est>.<hp>``."""
    out = {}
    for estimator in draw(st.lists(st.sampled_from(estimators), max_size=2, unique=True)):
        low = draw(st.integers(1, 100))
        spec = draw(st.sampled_from([
            f"{{type:randint,low:{low},high:{low + draw(st.integers(0, 400))}}}",
            f"{{type:loguniform,low:{low / 1000},high:{low / 10}}}",
            f"{{type:choice,values:[a,b,c],init:{draw(st.sampled_from('abc'))}}}",
            _list(sorted(draw(st.sets(st.integers(1, 64), min_size=1, max_size=4)))),
            str(round(draw(st.floats(0.01, 0.99)), 4)),
        ]))
        out[f"search.search_space.{estimator}.{draw(st.sampled_from(['n_estimators', 'num_leaves', 'alpha']))}"] = spec
    return out


@st.composite
def valid_overrides(draw: st.DrawFn) -> list[str]:
    """An override set every check accepts, drawn from the allowed values and ranges."""
    framework = draw(st.sampled_from(ALLOWED["search.framework"]))
    allowed = ESTIMATORS[framework]
    estimators = draw(st.lists(st.sampled_from(allowed), max_size=3, unique=True))
    sklearn_only = all(e in SKLEARN_ESTIMATORS for e in estimators) and (estimators or framework == "scikit-learn")
    eval_method = draw(st.sampled_from(ALLOWED["search.eval_method"]))
    budget = draw(st.none() | st.floats(0.5, 3600).map(lambda x: round(x, 3)))
    chosen: dict[str, str] = {
        "backend": "local",
        "search.framework": framework,
        "search.estimators": _list(estimators),
        "search.max_iter": str(draw(st.integers(1, 500))),
        "search.metric": draw(st.sampled_from(SEARCH_METRICS)),
        "search.eval_method": eval_method,
        "search.n_splits": str(draw(st.integers(2, 20))),
        "search.seed": str(draw(SEEDS)),
        "search.n_jobs": str(draw(st.sampled_from([-1, 1, 2, 8]))),
        "search.learner_selector": draw(st.sampled_from(ALLOWED["search.learner_selector"])),
        "search.starting_points": draw(st.sampled_from(ALLOWED["search.starting_points"])),
        "search.time_budget_s": "null" if budget is None else str(budget),
        "search.ensemble": str(draw(st.booleans()) if sklearn_only else False).lower(),
        "data.task": draw(st.sampled_from(ALLOWED["data.task"])),
        "data.split.test_size": repr(draw(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True,
                                                    allow_subnormal=False))),
        "data.split.stratify": str(draw(st.booleans())).lower(),
        "data.split.seed": str(draw(SEEDS)),
        "data.include": _list(draw(COLUMNS)),
        "data.exclude": _list(draw(COLUMNS)),
        "evaluation.metrics": _list(draw(st.lists(st.sampled_from(SEARCH_METRICS[1:]), max_size=3, unique=True))),
        "deploy.port": str(draw(st.integers(0, 65535))),  # not in the training plan: must not change it
        **draw(_search_space(allowed)),
    }
    keep = draw(st.sets(st.sampled_from(sorted(chosen)))) | {"backend"}  # any subset: defaults fill the rest
    coupled = {k for k in chosen if k in _COUPLED or k.startswith("search.search_space.")}
    keep |= coupled if keep & coupled else set()  # the estimators and the ensemble are valid for this framework only
    return [f"{k}={v}" for k, v in chosen.items() if k in keep]


def _reordered(value: Any) -> Any:
    """The same data with every dict built in reverse insertion order."""
    if isinstance(value, Mapping):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def _plan_json(overrides: list[str], project_dir: Path) -> tuple[str, dict[str, Any]]:
    _, plain = api.compose_config(overrides, project_dir=project_dir)
    return compile_train(plain, DATASET, model_name="m").to_json(), plain


@pytest.fixture(scope="module")
def bare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with no conf/ of its own (only .tesla/): the shipped defaults under the drawn overrides."""
    root = tmp_path_factory.mktemp("props")
    (root / ".tesla").mkdir()
    return root


# one Hydra compose per example (~0.1-0.3 s): 40 examples stay well under 30 s on a shared machine
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=valid_overrides())
def test_every_valid_config_compiles_to_the_same_bytes(overrides: list[str], bare_dir: Path) -> None:
    first, plain = _plan_json(overrides, bare_dir)
    assert compile_train(plain, DATASET, model_name="m").to_json() == first  # twice
    assert compile_train(_reordered(plain), DATASET, model_name="m").to_json() == first  # dict insertion order
    assert Plan.from_json(first).to_json() == first  # a round trip keeps every byte
    assert [s["id"] for s in json.loads(first)["steps"]] == ["load", "split", "search", "evaluate", "register"]


_FRESH = """
import sys
from pathlib import Path
from tesla import api
from tesla.compiler import DatasetInput, compile_train
_, plain = api.compose_config(sys.argv[2:], project_dir=Path(sys.argv[1]))
dataset = DatasetInput(name="bc", version=3, sha256="ab" * 32, format="parquet", target="target")
sys.stdout.write(compile_train(plain, dataset, model_name="m").to_json())
"""


@pytest.mark.parametrize("overrides", [
    ["search.framework=auto", "search.estimators=[lgbm,torch_mlp]", "search.max_iter=7", "data.split.seed=9",
     "search.search_space.lgbm.num_leaves=[4,8,16]", "evaluation.metrics=[accuracy,f1]"],
    ["search.ensemble=true", "search.estimators=[rf,extra_tree]", "data.split.test_size=0.125",
     "search.time_budget_s=12.5", "search.search_space.rf.n_estimators={type:randint,low:4,high:40}"],
], ids=["auto-framework", "ensemble-with-space"])
def test_a_fresh_interpreter_gives_the_same_bytes(overrides: list[str], bare_dir: Path) -> None:
    """Another process, another hash seed (set and dict-of-set order), the overrides in reverse order."""
    here, _ = _plan_json(overrides, bare_dir)
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(bare_dir), *reversed(overrides)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONHASHSEED": "4242"}, check=True)
    assert proc.stdout == here
