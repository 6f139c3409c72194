"""TensorFlow weight format: a Keras ``model.keras`` archive loaded with ``safe_mode=True``.

The network is built only from Keras' own layers (Normalization holds the
standardisation, Rescaling maps regression outputs back to target units), so safe mode
can load it without registering custom objects; an archive with a Lambda layer or an
unknown class is refused with ``BundleError``.

Imported lazily through ``tesla.models.formats``: importing it imports TensorFlow.
"""

from __future__ import annotations

import os

# before the first TensorFlow import: no C++ log noise, and oneDNN off keeps CPU results
# bit-for-bit repeatable (its kernels may reorder float sums)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the tensorflow extra ships no other backend

from collections.abc import Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402,F401  (a missing extra must fail here, by that name)
import keras  # noqa: E402

from tesla.errors import BundleError, DataError  # noqa: E402
from tesla.models.formats import bundle_file  # noqa: E402

__all__ = ["MODEL_FILE", "KerasTabularModel", "load", "save"]

MODEL_FILE = "model.keras"
TASKS = ("classification", "regression")
_CHUNK = 1 << 16  # rows per forward pass when predicting


class KerasTabularModel:
    """A fitted Keras tabular network: what a bundle stores and serves.

    Args:
        model: a Keras model mapping the Preprocessor's features to class probabilities
            (softmax, one unit per class code 0..k-1) or to one value in target units.
        task: ``classification`` or ``regression``.
    """

    def __init__(self, model: keras.Model, task: str) -> None:
        self.model, self.task = model, task
        if task == "classification":
            self.classes_ = np.arange(self.n_outputs)

    @property
    def n_features_in_(self) -> int:
        return int(self.model.input_shape[-1])

    @property
    def n_outputs(self) -> int:
        return int(self.model.output_shape[-1])

    def _outputs(self, X: Any) -> np.ndarray:
        x = np.asarray(X, dtype="float32")
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataError(f"the Keras model takes {self.n_features_in_} feature columns; got shape {x.shape}")
        # a direct call, not model.predict: no tf.function tracing for the small batches served
        parts = [keras.ops.convert_to_numpy(self.model(x[i:i + _CHUNK], training=False))
                 for i in range(0, len(x), _CHUNK)]
        return np.concatenate(parts).astype("float64") if parts else np.zeros((0, self.n_outputs))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class code 0..k-1 (rows sum to 1 in float64)."""
        if self.task != "classification":
            raise DataError("predict_proba is only defined for classification models")
        proba = np.clip(self._outputs(X), 0.0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Class codes (classification) or values in the target's units (regression)."""
        if self.task == "classification":
            return self.predict_proba(X).argmax(axis=1)
        return self._outputs(X)[:, 0]


def save(estimator: Any, directory: Path) -> dict[str, Any]:
    """Write ``model.keras``; returns manifest facts."""
    if not isinstance(estimator, KerasTabularModel):
        raise BundleError("the tensorflow weight format saves Tesla's KerasTabularModel; "
                          f"got {type(estimator).__name__}")
    estimator.model.save(directory / MODEL_FILE)
    return {"file": MODEL_FILE, "task": estimator.task, "n_outputs": estimator.n_outputs,
            "keras_version": keras.__version__}


def _model_path(directory: Path, facts: Mapping[str, Any]) -> Path:
    path = bundle_file(directory, facts, "file", MODEL_FILE)
    if path.suffix != ".keras":
        raise BundleError(f"manifest.json field 'weights.file' is '{path.name}'; it must be a .keras file "
                          "inside the bundle", key="manifest.json:weights.file")
    return path


def load(directory: Path, facts: Mapping[str, Any]) -> KerasTabularModel:
    """Load ``model.keras`` in safe mode and check it is the network the manifest describes."""
    path = _model_path(directory, facts)
    task = facts.get("task")
    if task not in TASKS:
        raise BundleError(f"manifest.json field 'weights.task' is {task!r}; expected one of {', '.join(TASKS)}",
                          key="manifest.json:weights.task")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read untrusted bytes is the same refusal
        reason = " ".join(str(exc).split())[:200]
        raise BundleError(f"refusing to load '{path.name}': Keras safe mode rejected it ({type(exc).__name__}: "
                          f"{reason}); only bundles written by Tesla's TensorFlow learner load", key=path.name) from exc
    if not isinstance(model, keras.Model) or int(model.output_shape[-1]) != int(facts.get("n_outputs", -1)):
        raise BundleError(f"refusing to load '{path.name}': it is not the {facts.get('n_outputs')}-output network "
                          "its manifest describes", key=path.name)
    return KerasTabularModel(model, task)
