"""The shape of ``search.search_space``: per-estimator hyperparameter overrides, checked at compose time.

A project writes it in YAML (or as a Hydra override); ``tesla.automl.adapter.custom_hp``
turns it into FLAML's ``custom_hp`` at run time, where the hyperparameter *names* are
checked against the learner too (that needs FLAML, which composing must not import)::

    search_space:
      lgbm:
        n_estimators: {type: randint, low: 50, high: 400}     # a range; high is inclusive
        learning_rate: {type: loguniform, low: 0.01, high: 0.3, init: 0.1}
        num_leaves: [15, 31, 63]                              # a list: one of these
        subsample: 0.8                                        # a value: fixed
      rf:
        criterion: {type: choice, values: [gini, entropy], init: gini}

Range types: uniform, loguniform, randint, lograndint (``low``, ``high``) and quniform,
qloguniform, qrandint (plus ``q``, the step). ``init`` is the first value tried and
``low_cost`` the cheapest one (FLAML starts its local search there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tesla.errors import ConfigError

__all__ = ["RANGE_TYPES", "SPEC_KEYS", "check_search_space"]

# range type -> (whether it holds integers, whether it is on a log scale, whether it takes q)
RANGE_TYPES: dict[str, tuple[bool, bool, bool]] = {
    "uniform": (False, False, False), "loguniform": (False, True, False),
    "quniform": (False, False, True), "qloguniform": (False, True, True),
    "randint": (True, False, False), "lograndint": (True, True, False), "qrandint": (True, False, True),
}
SPEC_KEYS = {"type", "low", "high", "q", "init", "low_cost", "values"}


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"{key}: {message}", key=key)


def _number(key: str, spec: Mapping[str, Any], name: str) -> float:
    value = spec.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, f"'{name}' must be a number; got {value!r}. Example: "
                         "{type: uniform, low: 0.1, high: 1.0}")
    return float(value)


def _check_range(key: str, kind: str, spec: Mapping[str, Any]) -> None:
    integer, log, quantized = RANGE_TYPES[kind]
    low, high = _number(key, spec, "low"), _number(key, spec, "high")
    if integer and not (low.is_integer() and high.is_integer()):
        raise _fail(key, f"{kind} needs whole-number 'low' and 'high'; got {spec['low']!r} and {spec['high']!r}")
    if low > high or (low == high and not integer):
        raise _fail(key, f"'low' ({spec['low']}) must be below 'high' ({spec['high']})")
    if log and low <= 0:
        raise _fail(key, f"{kind} needs 'low' > 0 (a log scale); got {spec['low']}")
    if quantized and _number(key, spec, "q") <= 0:
        raise _fail(key, f"{kind} needs a step 'q' > 0; got {spec['q']}")
    if not quantized and "q" in spec:
        raise _fail(key, f"'q' applies to quniform, qloguniform and qrandint only, not {kind}")
    for name in ("init", "low_cost"):
        if name in spec and not low <= _number(key, spec, name) <= high:
            raise _fail(key, f"'{name}' ({spec[name]}) must lie in [low, high] = [{spec['low']}, {spec['high']}]")


def _check_choice(key: str, spec: Mapping[str, Any]) -> None:
    values = spec.get("values")
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise _fail(key, f"choice needs a non-empty list 'values'; got {values!r}")
    for name in ("init", "low_cost"):
        if name in spec and spec[name] not in values:
            raise _fail(key, f"'{name}' ({spec[name]!r}) must be one of the values {list(values)}")


def _check_spec(key: str, spec: Any) -> None:
    if isinstance(spec, list):
        if not spec:
            raise _fail(key, "a list means 'one of these values' and may not be empty")
        return
    if not isinstance(spec, Mapping):
        return  # a fixed value
    kind = spec.get("type")
    allowed = [*RANGE_TYPES, "choice"]
    if kind not in allowed:
        raise _fail(key, f"'type' must be one of {', '.join(allowed)}; got {kind!r}")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise _fail(key, f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SPEC_KEYS))}")
    if kind == "choice":
        _check_choice(key, spec)
    else:
        if "values" in spec:
            raise _fail(key, f"'values' applies to type choice only, not {kind}")
        _check_range(key, kind, spec)


def check_search_space(space: Any, estimators: Sequence[str]) -> None:
    """Raise ConfigError (with the full dotted key) when ``space`` is not a valid ``search.search_space``.

    Args:
        space: the resolved ``search.search_space`` value.
        estimators: the estimator names the chosen framework allows.
    """
    if not isinstance(space, Mapping):
        raise _fail("search.search_space", f"must map estimator -> hyperparameter -> spec; got {space!r}")
    for name, hps in space.items():
        key = f"search.search_space.{name}"
        if name not in estimators:
            import difflib

            close = difflib.get_close_matches(str(name), list(estimators), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise _fail(key, f"'{name}' is not an estimator of this framework.{hint} Allowed: {', '.join(estimators)}")
        if not isinstance(hps, Mapping) or not hps:
            raise _fail(key, f"must map hyperparameter names to specs, e.g. {{n_estimators: {{type: randint, "
                             f"low: 50, high: 400}}}}; got {hps!r}")
        for hp, spec in hps.items():
            _check_spec(f"{key}.{hp}", spec)
