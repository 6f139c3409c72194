"""Model bundles: a directory with a manifest, JSON preprocessing and safe weights.

Layout::

    manifest.json     framework, task, estimator, classes, input signature, metrics,
                      dataset version, plan fingerprint, tesla version, weights facts
    preprocess.json   the fitted Preprocessor (plain JSON)
    model.*           weights in the framework's safe format (see tesla.models.formats)

``load_bundle`` gives a ``Bundle`` whose ``predict`` takes raw rows (a DataFrame with the
training columns), so every caller (batch predict, evaluate, the server) shares one path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla._version import __version__
from tesla.errors import BundleError, DataError
from tesla.models.formats import load_weights, save_weights
from tesla.models.preprocess import Preprocessor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MANIFEST", "Bundle", "load_bundle", "read_manifest", "save_bundle", "write_manifest"]

MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
BUNDLE_FORMAT = 1


def _json_safe(value: Any) -> Any:
    """numpy scalars/arrays -> plain Python for the manifest."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    text = json.dumps(dict(manifest), sort_keys=True, indent=2, default=_json_safe) + "\n"
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(text)
    os.replace(tmp, directory / MANIFEST)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise BundleError(f"'{directory}' is not a model bundle: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"model manifest '{path}' is not valid JSON: {exc}") from exc
    if manifest.get("bundle_format") != BUNDLE_FORMAT:
        raise BundleError(f"model bundle '{directory}' has format {manifest.get('bundle_format')!r}; "
                          f"this Tesla reads format {BUNDLE_FORMAT}")
    return manifest


def save_bundle(directory: str | os.PathLike[str], *, estimator: Any, framework: str,
                preprocessor: Preprocessor, task: str, classes: list[Any] | None,
                estimator_name: str, target: str, extra: Mapping[str, Any] | None = None) -> Path:
    """Write a bundle into ``directory`` (created) and return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = save_weights(framework, estimator, directory)
    (directory / PREPROCESS).write_text(json.dumps(preprocessor.to_dict(), sort_keys=True, indent=2,
                                                   default=_json_safe) + "\n")
    signature = [{k: f[k] for k in ("name", "type", "dtype", "nullable", "categories") if k in f}
                 for f in preprocessor.features]
    manifest = {
        "bundle_format": BUNDLE_FORMAT, "framework": framework, "task": task,
        "estimator": estimator_name, "classes": [_json_safe(c) for c in classes] if classes else None,
        "target": target, "signature": signature, "weights": weights, "tesla_version": __version__,
        "metrics": {}, **dict(extra or {}),
    }
    write_manifest(directory, manifest)
    return directory


@dataclass
class Bundle:
    """A loaded model: manifest, preprocessing and estimator."""

    path: Path
    manifest: dict[str, Any]
    preprocessor: Preprocessor
    estimator: Any

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def classes(self) -> list[Any] | None:
        return self.manifest.get("classes")

    @property
    def signature(self) -> list[dict[str, Any]]:
        return self.manifest["signature"]

    def features(self, rows: pd.DataFrame, *, unseen: str = "error") -> pd.DataFrame:
        """The numeric frame the estimator sees for raw ``rows``."""
        return self.preprocessor.transform(rows, unseen=unseen)

    def predict(self, rows: pd.DataFrame, *, unseen: str = "error") -> np.ndarray:
        """Predictions for raw rows: class labels (classification) or values (regression)."""
        import numpy as np

        X = self.features(rows, unseen=unseen)
        if self.task == "regression":
            return np.asarray(self.estimator.predict(X), dtype="float64").reshape(-1)
        proba = self.predict_proba_features(X)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]

    def predict_proba(self, rows: pd.DataFrame, *, unseen: str = "error") -> np.ndarray:
        """Class probabilities for raw rows, columns in ``classes`` order."""
        if self.task == "regression":
            raise DataError("predict_proba is only defined for classification models")
        return self.predict_proba_features(self.features(rows, unseen=unseen))

    def predict_proba_features(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        proba = np.asarray(self.estimator.predict_proba(X), dtype="float64")
        if proba.ndim == 1:  # some learners return P(class 1) only
            proba = np.column_stack([1 - proba, proba])
        # float32 learners (XGBoost) give rows summing to 1 +- 1e-7, which sklearn's log_loss warns about
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_records(self, rows: pd.DataFrame, *, unseen: str = "error") -> list[dict[str, Any]]:
        """One dict per row: ``prediction`` plus ``probabilities`` for classifiers."""
        import numpy as np

        X = self.features(rows, unseen=unseen)
        if self.task == "regression":
            values = np.asarray(self.estimator.predict(X), dtype="float64").reshape(-1)
            return [{"prediction": float(v)} for v in values]
        proba = self.predict_proba_features(X)
        classes = self.classes or []
        labels = [classes[i] for i in proba.argmax(axis=1)]
        return [{"prediction": label, "probabilities": dict(zip(map(str, classes), map(float, p)))}
                for label, p in zip(labels, proba)]


def load_bundle(directory: str | os.PathLike[str]) -> Bundle:
    """Load a bundle without executing untrusted code."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        preprocessor = Preprocessor.from_dict(json.loads((directory / PREPROCESS).read_text()))
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise BundleError(f"model bundle '{directory}' has no readable {PREPROCESS}: {exc}") from exc
    estimator = load_weights(manifest["framework"], directory, manifest.get("weights", {}))
    return Bundle(path=directory, manifest=manifest, preprocessor=preprocessor, estimator=estimator)
