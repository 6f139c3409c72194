"""Native boosters: a LightGBM or XGBoost model kept in the library's own format beside its wrapper.

A bundle's scikit-learn-family estimator is rebuilt by skops, which imports scikit-learn (~1-2 s
of a model server's start) just to give back a wrapper around a booster. Predicting needs only
the booster, so ``save`` also writes it in the library's own model format (LightGBM's model
string, XGBoost's JSON), when and only when, on probe rows, it gives the wrapper's very answers
(bit for bit). ``load`` reads it back as a function of a float64 matrix, with the answer
``Bundle.estimate`` gives (predict for regression, predict_proba for classification).

A model server (``lean=True``) imports the library without its scikit-learn API: the library's
``compat`` module finds scikit-learn unimportable for the length of the import and defines its
stand-ins, so that process must never build the wrapper afterwards (``Bundle`` refuses it there).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.models.schema import BOOSTER_LIBRARIES

if TYPE_CHECKING:
    import numpy as np

__all__ = ["library_of", "load", "save"]

log = logging.getLogger("tesla.models")

_FILES = {"lightgbm": "model.lgb.txt", "xgboost": "model.xgb.json"}
Predict = Callable[["np.ndarray"], "np.ndarray"]


def library_of(estimator: Any) -> str | None:
    """``lightgbm`` or ``xgboost`` for a fitted booster wrapper of that library, else None."""
    module = type(estimator).__module__.split(".")[0]
    if module not in BOOSTER_LIBRARIES:
        return None
    if module == "lightgbm" and getattr(estimator, "booster_", None) is not None:
        return module
    if module == "xgboost" and callable(getattr(estimator, "get_booster", None)):
        return module
    return None


def save(estimator: Any, directory: Path, task: str, probe: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """Write ``estimator``'s booster into ``directory`` if, read back, it answers ``expected`` on ``probe``.

    Args:
        estimator: the fitted wrapper (``library_of`` names its library).
        directory: the bundle being written.
        task: the bundle's task.
        probe: float64 feature rows to compare on.
        expected: the wrapper's own answer on them (what ``Bundle.estimate`` gives through it).

    Returns:
        The weights facts naming the file (``booster``, ``booster_library``, ``booster_iterations``),
        or ``{}`` when the estimator is not a booster or its native file would answer differently.
    """
    import numpy as np

    library = library_of(estimator)
    if library is None:
        return {}
    path = directory / _FILES[library]
    try:
        facts = _write(library, estimator, path)
        answer = load(directory, facts, task, lean=False)(probe) if facts else None
    except Exception as exc:  # noqa: BLE001 - any failure: the bundle keeps only the wrapper, as before
        log.info("%s booster not kept beside the wrapper (%s: %s)", library, type(exc).__name__, exc)
        answer = None
    if answer is None or not np.array_equal(np.asarray(answer), np.asarray(expected), equal_nan=True):
        path.unlink(missing_ok=True)
        if answer is not None:
            log.info("%s booster answers differently from its wrapper on the probe rows: not kept", library)
        return {}
    return facts


def _write(library: str, estimator: Any, path: Path) -> dict[str, Any]:
    facts: dict[str, Any] = {"booster": path.name, "booster_library": library}
    if library == "lightgbm":
        # the trees LGBMModel.predict uses: up to the best iteration when early stopping set one
        path.write_text(estimator.booster_.model_to_string(num_iteration=None))
        return facts
    import math

    missing = getattr(estimator, "missing", math.nan)
    if not (isinstance(missing, float) and math.isnan(missing)):
        return {}  # a custom missing marker is the wrapper's knob: keep the wrapper
    start, end = estimator._get_iteration_range(None)  # what XGBModel.predict uses (best_iteration)
    path.write_bytes(bytes(estimator.get_booster().save_raw(raw_format="json")))
    return {**facts, "booster_iterations": [int(start), int(end)]}


def load(directory: Path, facts: Mapping[str, Any], task: str, *, lean: bool) -> Predict:
    """The booster the facts name, as ``estimate(X)`` of a float64 matrix.

    Args:
        directory: the bundle (its files were checked: ``bundle_file``).
        facts: the manifest's weights facts.
        task: the bundle's task.
        lean: a model server's load: the library imported without scikit-learn, predicting on one
            thread (its batcher's workers are the parallelism).

    Raises:
        BundleError: the file cannot be read as the library's model.
        DependencyError: the library is not installed.
    """
    from tesla.errors import BundleError, DependencyError
    from tesla.models.formats import bundle_file

    library = facts["booster_library"]
    path = bundle_file(directory, facts, "booster", _FILES[library])
    try:
        module = _import(library, lean=lean)
    except ImportError as exc:
        raise DependencyError(f"this model's booster needs {library}, which is not installed ({exc.name}); run: "
                              f"pip install {library}") from exc
    try:
        if library == "lightgbm":
            return _lightgbm(module.Booster(model_str=path.read_text()), task, lean)
        return _xgboost(module, path.read_bytes(), facts["booster_iterations"], task, lean)
    except Exception as exc:  # noqa: BLE001 - any failure to parse these bytes is the same refusal
        raise BundleError(f"refusing to load '{path.name}': not a {library} model Tesla wrote "
                          f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})", key=path.name) from exc


def _import(library: str, *, lean: bool) -> Any:
    """The library; with ``lean`` and scikit-learn not loaded yet, imported without its scikit-learn API."""
    if not lean or library in sys.modules or "sklearn" in sys.modules:
        return importlib.import_module(library)
    sys.modules["sklearn"] = None  # type: ignore[assignment] - makes `import sklearn` raise ImportError
    try:
        return importlib.import_module(library)  # lazy: the booster's library, only where a bundle has one
    finally:
        if "sklearn" in sys.modules and sys.modules["sklearn"] is None:
            del sys.modules["sklearn"]


def _lightgbm(booster: Any, task: str, lean: bool) -> Predict:
    import numpy as np

    threads = {"num_threads": 1} if lean else {}

    def predict(X: np.ndarray) -> np.ndarray:
        out = booster.predict(X, **threads)
        if task == "binary" and out.ndim == 1:  # as LGBMClassifier.predict_proba
            return np.vstack((1.0 - out, out)).transpose()
        return out

    return predict


def _xgboost(module: Any, raw: bytes, iterations: list[int], task: str, lean: bool) -> Predict:
    import numpy as np

    booster = module.Booster()
    booster.load_model(bytearray(raw))
    if lean:
        booster.set_param({"nthread": 1})
    span = (int(iterations[0]), int(iterations[1]))

    def predict(X: np.ndarray) -> np.ndarray:
        out = booster.inplace_predict(X, iteration_range=span, predict_type="value", missing=np.nan,
                                      validate_features=False)
        if task != "regression" and out.ndim == 1:  # as XGBClassifier.predict_proba for binary:logistic
            return np.vstack((1.0 - out, out)).transpose()
        return out

    return predict
