"""Model bundles: a directory with a manifest, JSON preprocessing and safe weights.

Layout::

    manifest.json     framework, task, estimator, classes, input signature, metrics,
                      dataset version, plan fingerprint, tesla version, weights facts
    preprocess.json   the fitted Preprocessor (plain JSON)
    model.*           weights in the framework's safe format (see tesla.models.formats)

``load_bundle`` gives a ``Bundle`` whose ``predict`` takes raw rows (a DataFrame with the
training columns), so every caller (batch predict, evaluate, the server) shares one path.

Nothing in a bundle is trusted: ``check_bundle`` refuses links and special files, and checks
both JSON files against their closed schemas (``tesla.models.schema``) before any weights are
read; a registered bundle (``verified_bundle_dir``) is first checked file by file against the
hashes the artifact store recorded when it was stored. Every refusal is one ``BundleError`` or
``IntegrityError`` naming the file inside the bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla._version import __version__
from tesla.errors import BundleError, DataError
from tesla.models.formats import check_weights, load_weights, save_weights
from tesla.models.preprocess import Preprocessor
from tesla.models.schema import (
    BUNDLE_FORMAT,
    MANIFEST,
    PREPROCESS,
    check_agreement,
    check_manifest,
    check_preprocess,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from tesla.store.artifacts import ArtifactStore

__all__ = ["MANIFEST", "Bundle", "check_bundle", "load_bundle", "load_verified_bundle", "read_manifest",
           "save_bundle", "verified_bundle_dir", "write_manifest"]

_FIX = "re-train the model, or restore the bundle Tesla wrote"


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


def _label(directory: Path, label: str | None) -> str:
    return label or f"model bundle '{directory}'"


def _read_json(directory: Path, name: str, label: str) -> Any:
    path = directory / name
    if path.is_symlink() or not path.is_file():
        what = "is a symbolic link" if path.is_symlink() else "is missing"
        raise BundleError(f"{label}: {name} {what}; {_FIX}", key=name)
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{label}: {name} is not valid JSON ({exc}); {_FIX}", key=name) from None
    except OSError as exc:
        raise BundleError(f"{label}: {name} cannot be read ({exc.strerror}); {_FIX}", key=name) from None


def _checked(label: str, check: Callable[[], Any], fix: str = f"; {_FIX}") -> Any:
    """``check()``, its BundleError prefixed with the bundle's label (and, for a schema problem, the fix)."""
    try:
        return check()
    except BundleError as exc:
        raise BundleError(f"{label}: {exc}{fix}", key=exc.key) from exc


def read_manifest(directory: str | os.PathLike[str], *, label: str | None = None) -> dict[str, Any]:
    """The bundle's ``manifest.json``, checked against its schema."""
    directory = Path(directory)
    label = _label(directory, label)
    if not directory.is_dir():
        raise BundleError(f"{label} is not a model bundle: it is not a directory", key=str(directory))
    if not (directory / MANIFEST).exists() and not (directory / MANIFEST).is_symlink():
        raise BundleError(f"{label} is not a model bundle: it has no {MANIFEST}", key=MANIFEST)
    manifest = _read_json(directory, MANIFEST, label)
    return _checked(label, lambda: check_manifest(manifest))


def _check_layout(directory: Path, label: str) -> None:
    """Plain files and folders only: a link could point anywhere, a FIFO could block a reader."""
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in sorted([*dirnames, *filenames]):
            entry = Path(dirpath) / name
            rel = entry.relative_to(directory).as_posix()
            if entry.is_symlink():
                raise BundleError(f"{label}: '{rel}' is a symbolic link (to '{os.readlink(entry)}'); a bundle "
                                  f"holds plain files only, and a link could point outside it; {_FIX}", key=rel)
            if not (entry.is_dir() or entry.is_file()):
                raise BundleError(f"{label}: '{rel}' is not a plain file; {_FIX}", key=rel)


def check_bundle(directory: str | os.PathLike[str], *, label: str | None = None) -> dict[str, Any]:
    """Check a bundle without building its estimator: layout (no links), both JSON files against their
    schemas, that they agree, and the weights as far as they can be read safely (file names; the types
    a skops archive holds).

    Args:
        directory: the bundle.
        label: how messages name the bundle (default: ``model bundle '<directory>'``).

    Returns:
        The manifest.

    Raises:
        BundleError: a link or special file, a JSON file that is not one Tesla writes, or weights
            that would not load safely; the message and ``key`` name the file (and field) inside the bundle.
    """
    directory = Path(directory)
    label = _label(directory, label)
    manifest = read_manifest(directory, label=label)
    _check_layout(directory, label)
    preprocess = _read_json(directory, PREPROCESS, label)
    features = _checked(label, lambda: check_preprocess(preprocess))
    _checked(label, lambda: check_agreement(manifest, features))
    _checked(label, lambda: check_weights(manifest["framework"], directory, manifest["weights"]), fix="")
    return manifest


def verified_bundle_dir(artifacts: ArtifactStore, sha: str, *, ref: str) -> Path:
    """The stored bundle ``sha`` of model ``ref``, after checking every file against the hashes recorded
    when it was stored, then its layout and schemas (``check_bundle``).

    Raises:
        IntegrityError: a file was changed, added or removed since registration.
        BundleError: the bundle is not one Tesla writes.
    """
    label = f"the bundle of {ref}"
    path = artifacts.verify(sha, label=label, hint=f"restore the file, or re-train {ref.split('@')[0]}")
    check_bundle(path, label=label)
    return path


def load_verified_bundle(artifacts: ArtifactStore, sha: str, *, ref: str) -> Bundle:
    """``load_bundle`` of the stored bundle ``sha`` of model ``ref``, after ``verified_bundle_dir``."""
    return load_bundle(verified_bundle_dir(artifacts, sha, ref=ref), label=f"the bundle of {ref}")


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
        return np.asarray(self.classes, dtype=object)[self.decide(proba)]

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

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices for probability rows: the binary threshold ``tesla evaluate`` stored, else argmax."""
        threshold = (self.manifest.get("decision") or {}).get("threshold")
        if threshold is not None and proba.shape[1] == 2:
            return (proba[:, 1] >= threshold).astype("int64")
        return proba.argmax(axis=1)

    def predict_records(self, rows: pd.DataFrame, *, unseen: str = "error") -> list[dict[str, Any]]:
        """One dict per row: ``prediction`` plus ``probabilities`` for classifiers."""
        import numpy as np

        X = self.features(rows, unseen=unseen)
        if self.task == "regression":
            values = np.asarray(self.estimator.predict(X), dtype="float64").reshape(-1)
            return [{"prediction": float(v)} for v in values]
        proba = self.predict_proba_features(X)
        classes = self.classes or []
        labels = [classes[i] for i in self.decide(proba)]
        return [{"prediction": label, "probabilities": dict(zip(map(str, classes), map(float, p)))}
                for label, p in zip(labels, proba)]


def load_bundle(directory: str | os.PathLike[str], *, label: str | None = None) -> Bundle:
    """Load a bundle without executing untrusted code (``check_bundle`` first, then the weights).

    Args:
        directory: the bundle; a registered one should come from ``verified_bundle_dir``.
        label: how messages name the bundle (default: ``model bundle '<directory>'``).
    """
    directory = Path(directory)
    label = _label(directory, label)
    manifest = check_bundle(directory, label=label)
    preprocessor = Preprocessor.from_dict(_read_json(directory, PREPROCESS, label))
    estimator = _checked(label, lambda: load_weights(manifest["framework"], directory, manifest["weights"]), fix="")
    return Bundle(path=directory, manifest=manifest, preprocessor=preprocessor, estimator=estimator)
