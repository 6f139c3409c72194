"""Closing the loop: an alert retrains the model on the newest data, and the gates decide.

The retrain reuses the recipe the alerting version was trained with (its recorded resolved
``data``/``search``/``evaluation`` config) with ``data.version=null``, so only the data
changes. Training and deploying are passed in as callables: ``tesla.monitor`` sits below
``tesla.api`` and must not call up into it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tesla.errors import GateError, TeslaError
from tesla.monitor.results import RetrainOutcome

if TYPE_CHECKING:
    from tesla.store import ModelVersion

__all__ = ["RetrainOutcome", "hydra_value", "retrain", "training_overrides"]

# free-form mappings are passed whole; every other mapping is split into dotted keys
_WHOLE = {"search.search_space", "evaluation.gates"}
_CARRIED = ("data", "search", "evaluation.metrics", "evaluation.data")
_DATA_SET_HERE = {"data.source", "data.dataset", "data.version"}

TrainFn = Callable[[list[str]], "tuple[ModelVersion, bool]"]
DeployFn = Callable[[str], str]


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (quoted strings, [lists], {dicts}, null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a Hydra override")


def _flatten(prefix: str, value: Any) -> list[str]:
    if isinstance(value, Mapping) and prefix not in _WHOLE:
        return [o for k, v in value.items() for o in _flatten(f"{prefix}.{k}", v)]
    return [] if prefix in _DATA_SET_HERE else [f"{prefix}={hydra_value(value)}"]


def training_overrides(mv: ModelVersion, extra: Sequence[str] = ()) -> list[str]:
    """Hydra overrides that retrain ``mv``'s recipe on the current version of its dataset.

    ``extra`` (the user's own overrides) come last, so they win.
    """
    resolved = mv.config.get("resolved") or {}
    out = []
    for dotted in _CARRIED:
        section, _, key = dotted.partition(".")
        node = resolved.get(section, {})
        if key:
            if key in node:
                out += _flatten(dotted, node[key])
        else:
            out += _flatten(section, node)
    recipe = [*out, f"data.dataset={hydra_value(mv.dataset)}", "data.source=null", "data.version=null"]
    # the user's value replaces the recorded one (a key set twice is refused as a user mistake)
    mine = {_key(o) for o in extra}
    return [*(o for o in recipe if _key(o) not in mine), *extra]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def retrain(mv: ModelVersion, newest_version: int | None, train: TrainFn, deploy: DeployFn,
            extra: Sequence[str] = ()) -> RetrainOutcome:
    """Train ``mv``'s recipe on dataset version ``newest_version`` and deploy it if the gates pass.

    Args:
        mv: the alerting model version.
        newest_version: the current version of ``mv.dataset``.
        train: runs training with the given overrides, returns (model version, created).
        deploy: deploys a model ref (raising ``GateError`` when a gate refuses it), returns its URL.
        extra: the user's Hydra overrides, applied after the recorded recipe.
    """
    if not mv.dataset or newest_version is None:
        return RetrainOutcome("skipped", f"no retrain: {mv.ref} has no recorded training dataset to refresh")
    if newest_version == mv.dataset_version:
        return RetrainOutcome("skipped", f"no retrain: {mv.dataset}@{newest_version} is still the newest data and "
                              f"{mv.ref} was trained on it; load fresh data with `tesla load -d FILE -o {mv.dataset}`")
    dataset = f"{mv.dataset}@{newest_version}"
    try:
        new, created = train(training_overrides(mv, extra))
    except TeslaError as exc:
        return RetrainOutcome("failed", f"retraining {mv.name} on {dataset} failed: {exc}", dataset=dataset)
    metrics = {k: float(v) for k, v in new.metrics.items()}
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    try:
        url = deploy(new.ref)
    except GateError as exc:
        return RetrainOutcome("refused", f"retrained {new.ref} on {dataset} ({shown}) but it was not deployed: {exc}",
                              model=new.ref, dataset=dataset, metrics=metrics)
    except TeslaError as exc:
        return RetrainOutcome("failed", f"retrained {new.ref} on {dataset} but deploying it failed: {exc}",
                              model=new.ref, dataset=dataset, metrics=metrics)
    state = "" if created else " (an identical bundle was already registered)"
    return RetrainOutcome("deployed", f"retrained {new.ref} on {dataset} ({shown}){state}, passed the gates and "
                          f"now serves at {url}", model=new.ref, dataset=dataset, metrics=metrics, url=url)
