"""Model bundles: a directory with a manifest, JSON preprocessing and safe weights.

Layout::

    manifest.json     framework, task, estimator, classes, input signature, metrics,
                      dataset version, plan fingerprint, tesla version, weights facts
    preprocess.json   the fitted Preprocessor (plain JSON)
    model.*           weights in the framework's safe format (see tesla.models.formats)
    model.lgb.txt     (LightGBM / XGBoost: model.xgb.json) the booster in its library's own format,
                      where it answers exactly as the wrapper (see tesla.models.boosters)

``load_bundle`` gives a ``Bundle`` whose ``predict`` takes raw rows (a DataFrame with the
training columns), so every caller (batch predict, evaluate, the server) shares one path.

Nothing in a bundle is trusted: ``check_bundle`` refuses links and special files, and checks
both JSON files against their closed schemas (``tesla.models.schema``) before any weights are
read; a registered bundle (``verified_bundle_dir``) is first checked file by file against the
hashes the artifact store recorded when it was stored. Every refusal is one ``BundleError`` or
``IntegrityError`` naming the file inside the bundle.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla._version import __version__
from tesla.errors import BundleError, DataError
from tesla.models import boosters
from tesla.models.formats import check_weights, load_weights, save_weights
from tesla.models.preprocess import CompiledPreprocessor, Fallback, Preprocessor
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
           "records_frame", "save_bundle", "verified_bundle_dir", "write_manifest"]

log = logging.getLogger("tesla.models")
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


def check_bundle(directory: str | os.PathLike[str], *, label: str | None = None, lean: bool = False) -> dict[str, Any]:
    """Check a bundle without building its estimator: layout (no links), both JSON files against their
    schemas, that they agree, and the weights as far as they can be read safely (file names; the types
    a skops archive holds).

    Args:
        directory: the bundle.
        label: how messages name the bundle (default: ``model bundle '<directory>'``).
        lean: for a model server that will read a booster alone (``load_bundle(lean=True)``): the
            wrapper's archive beside it is not read (it stays a plain file inside the bundle).

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
    facts = manifest["weights"]
    _checked(label, lambda: check_weights(manifest["framework"], directory, facts,
                                          archive=not (lean and "booster" in facts)), fix="")
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
    if framework == "scikit-learn" and boosters.library_of(estimator) is not None:
        weights.update(_save_booster(estimator, directory, task, preprocessor))
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


def _save_booster(estimator: Any, directory: Path, task: str, preprocessor: Preprocessor) -> dict[str, Any]:
    """``boosters.save`` checked on the probe rows' features and on random rows with missing values."""
    import numpy as np
    import pandas as pd

    columns = preprocessor.model_columns
    signature = [{"name": f["name"], "type": f["type"]} for f in preprocessor.features]
    probe = preprocessor.transform(records_frame(_probe_rows(preprocessor.features), signature), unseen="unknown")
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 3.0, (64, len(columns)))
    noise[rng.random(noise.shape) < 0.1] = np.nan
    X = np.vstack([probe.to_numpy(dtype="float64"), noise, np.zeros((1, len(columns)))])
    frame = pd.DataFrame(X, columns=columns)
    expected = estimator.predict(frame) if task == "regression" else estimator.predict_proba(frame)
    return boosters.save(estimator, directory, task, X, expected)


def records_frame(rows: Sequence[Mapping[str, Any]], signature: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The frame (signature columns, in order) of raw records, built without per-row pandas work."""
    import numpy as np
    import pandas as pd

    names = [f["name"] for f in signature]
    if all(f["type"] == "numeric" for f in signature):
        # validated rows hold numbers or None: one float block (None -> NaN) is the cheapest frame
        matrix = np.array([[row.get(n) for n in names] for row in rows], dtype="float64")
        return pd.DataFrame(matrix.reshape(len(rows), len(names)), columns=names)
    columns: dict[str, Any] = {}
    for f in signature:
        values = [row.get(f["name"]) for row in rows]
        columns[f["name"]] = (np.array(values, dtype="float64") if f["type"] == "numeric"
                              else np.array(values, dtype=object))
    return pd.DataFrame(columns, columns=names)


@dataclass
class Bundle:
    """A loaded model: manifest, preprocessing and estimator.

    ``estimator`` is built on first use (``load_estimator``): where the bundle keeps its booster in the
    library's own format (``tesla.models.boosters``), ``booster`` answers every prediction and the
    scikit-learn wrapper (skops, scikit-learn) is loaded only for what needs it (tree SHAP).
    ``load_bundle`` also sets the served fast path (``prepare_fast_path``): ``compiled``, the preprocessing
    for request records without pandas, and ``on_arrays``, the estimator called on a numpy matrix; each is
    kept only where it gave the pandas path's answers on probe rows at load.
    """

    path: Path
    manifest: dict[str, Any]
    preprocessor: Preprocessor
    load_estimator: Callable[[], Any] = field(repr=False)
    booster: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    compiled: CompiledPreprocessor | None = field(default=None, repr=False)
    on_arrays: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    @functools.cached_property
    def estimator(self) -> Any:
        """The fitted estimator the bundle's weights hold."""
        return self.load_estimator()

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

    def matrix(self, rows: Sequence[Mapping[str, Any]], *, unseen: str = "error") -> np.ndarray:
        """The float64 matrix (rows x model columns) the estimator sees for raw request records: compiled
        where the probe at load agreed, else (and for rows the compiled path cannot take) the pandas path.

        Raises:
            DataError: a value the preprocessing refuses (the pandas path's message).
        """
        if self.compiled is not None:
            try:
                return self.compiled.records(rows, unseen=unseen)
            except Fallback:
                pass  # the pandas path gives the answer, or the error a user should see
        return self.features(records_frame(rows, self.signature), unseen=unseen).to_numpy(dtype="float64")

    def predict(self, rows: pd.DataFrame, *, unseen: str = "error") -> np.ndarray:
        """Predictions for raw rows: class labels (classification) or values (regression)."""
        import numpy as np

        X = self.features(rows, unseen=unseen)
        if self.task == "regression":
            return np.asarray(self.estimate(X), dtype="float64").reshape(-1)
        proba = self.predict_proba_features(X)
        return np.asarray(self.classes, dtype=object)[self.decide(proba)]

    def predict_proba(self, rows: pd.DataFrame, *, unseen: str = "error") -> np.ndarray:
        """Class probabilities for raw rows, columns in ``classes`` order."""
        if self.task == "regression":
            raise DataError("predict_proba is only defined for classification models")
        return self.predict_proba_features(self.features(rows, unseen=unseen))

    def predict_proba_features(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        import numpy as np

        proba = np.asarray(self.estimate(X), dtype="float64")
        if proba.ndim == 1:  # some learners return P(class 1) only
            proba = np.column_stack([1 - proba, proba])
        # float32 learners (XGBoost) give rows summing to 1 +- 1e-7, which sklearn's log_loss warns about
        return proba / proba.sum(axis=1, keepdims=True)

    def estimate(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The estimator's predict (regression) or predict_proba (classification) of features ``X``: a frame
        of ``features``, or their float64 matrix, which goes through the fast path when the probe at load
        found it gives the very same answers (``prepare_fast_path``)."""
        import numpy as np

        if self.booster is not None:
            return self.booster(X if isinstance(X, np.ndarray) else X.to_numpy(dtype="float64"))
        import pandas as pd

        if isinstance(X, np.ndarray):
            if self.on_arrays is not None:
                return self.on_arrays(X)
            X = pd.DataFrame(X, columns=self.preprocessor.model_columns, copy=False)
        return self.estimator.predict(X) if self.task == "regression" else self.estimator.predict_proba(X)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices for probability rows: the binary threshold ``tesla evaluate`` stored, else argmax."""
        threshold = (self.manifest.get("decision") or {}).get("threshold")
        if threshold is not None and proba.shape[1] == 2:
            return (proba[:, 1] >= threshold).astype("int64")
        return proba.argmax(axis=1)

    def predict_records(self, rows: pd.DataFrame, *, unseen: str = "error") -> list[dict[str, Any]]:
        """One dict per row: ``prediction`` plus ``probabilities`` for classifiers."""
        return self.records_of(self.features(rows, unseen=unseen))

    def predict_request(self, rows: Sequence[Mapping[str, Any]], *, unseen: str = "error") -> list[dict[str, Any]]:
        """``predict_records`` of raw request records (what the server answers), through the fast path."""
        return self.records_of(self.matrix(rows, unseen=unseen))

    def records_of(self, X: pd.DataFrame | np.ndarray) -> list[dict[str, Any]]:
        """One dict per row of features ``X``: ``prediction`` plus ``probabilities`` for classifiers."""
        import numpy as np

        if self.task == "regression":
            return [{"prediction": float(v)} for v in np.asarray(self.estimate(X), dtype="float64").reshape(-1)]
        proba = self.predict_proba_features(X)
        classes = self.classes or []
        names = list(map(str, classes))
        return [{"prediction": classes[i], "probabilities": dict(zip(names, p))}
                for i, p in zip(self.decide(proba).tolist(), proba.tolist())]

    def prepare_fast_path(self) -> None:
        """Set ``compiled`` and ``on_arrays`` where each gives the pandas path's exact answers on probe rows
        (``_probe_rows``); where one differs it stays off, and a warning says so."""
        import numpy as np

        rows = _probe_rows(self.preprocessor.features)
        X = self.features(records_frame(rows, self.signature), unseen="unknown")
        compiled = self.preprocessor.compile()
        try:
            same = np.array_equal(compiled.records(rows, unseen="unknown"), X.to_numpy(dtype="float64"),
                                  equal_nan=True)
        except Exception as exc:  # noqa: BLE001 - any failure of the fast path means: keep the pandas one
            log.warning("%s: compiled preprocessing failed on the probe rows (%s); serving uses pandas", self.path, exc)
            same = False
        if not same:
            log.warning("%s: compiled preprocessing differs from pandas on the probe rows; serving uses pandas",
                        self.path)
        self.compiled = compiled if same else None
        if self.booster is not None:
            return  # the booster takes the matrix itself, on every path
        candidate = _array_estimator(self.estimator, self.task)
        if candidate is not None:
            expected = self.records_of(X)
            self.on_arrays = candidate
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a learner that warns about arrays keeps its DataFrames
                    agrees = self.records_of(X.to_numpy(dtype="float64")) == expected
            except Exception:  # noqa: BLE001 - as above
                agrees = False
            if not agrees:
                self.on_arrays = None


def _array_estimator(estimator: Any, task: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The estimator's predict/predict_proba on a numpy matrix, skipping a DataFrame conversion: LightGBM's
    booster, else the estimator itself (without its fitted column names). None: it has no such method."""
    booster = getattr(estimator, "booster_", None)
    if booster is not None and type(booster).__module__.startswith("lightgbm"):
        # what LGBMModel.predict/predict_proba compute, minus converting a DataFrame (~1 ms a call); on one
        # thread: a served batch is small, and waking OpenMP's team for it cost 10-20 ms a row on a busy machine
        # (parallelism comes from the batcher's workers instead)
        return functools.partial(booster.predict, num_threads=1)
    if "feature_names_in_" in getattr(estimator, "__dict__", {}):
        # scikit-learn checks an array against the fitted column names only to warn (~1 ms a call on a
        # DataFrame): a shallow copy without them shares the fitted trees and takes the matrix as it is
        estimator = copy.copy(estimator)
        del estimator.feature_names_in_
    return getattr(estimator, "predict" if task == "regression" else "predict_proba", None)


def _probe_rows(features: Sequence[Mapping[str, Any]], n: int = 8) -> list[dict[str, Any]]:
    """A few raw rows that reach every branch of each feature's encoding (missing values, dates with times
    and zones, a date pandas must parse, empty text), to compare the compiled and pandas paths on."""
    samples: dict[str, list[Any]] = {
        "numeric": [0.0, None, 1.5, -3, 10**6, 0.25, 7, None],
        "boolean": [True, False, None, "yes", "0", "No", 1, "t"],
        "datetime": ["2024-01-05", "2024-03-01T10:30:00", None, "2023-12-31T23:59:59.123456+02:00",
                     "2024-02-29 06:00", "01/02/2024", "1969-07-20T20:17:40Z", "not a date"],
        "text": ["hello world", "", None, "a  b c", "x", "wants discount now", " lead", "7"],
    }
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for f in features:
        if f["type"] == "categorical":
            cats = list(f["categories"])
            values = [*cats[:3], *cats[-3:], None, "an unseen category"]
        else:
            values = samples.get(f["type"], [None] * n)
        for i, row in enumerate(rows):
            row[f["name"]] = values[i % len(values)]
    return rows


def load_bundle(directory: str | os.PathLike[str], *, label: str | None = None, lean: bool = False) -> Bundle:
    """Load a bundle without executing untrusted code (``check_bundle`` first, then the weights).

    Args:
        directory: the bundle; a registered one should come from ``verified_bundle_dir``.
        label: how messages name the bundle (default: ``model bundle '<directory>'``).
        lean: a model server's load: a bundle's booster is read without scikit-learn and predicts on
            one thread, and its scikit-learn wrapper is never built in this process.
    """
    directory = Path(directory)
    label = _label(directory, label)
    manifest = check_bundle(directory, label=label, lean=lean)
    preprocessor = Preprocessor.from_dict(_read_json(directory, PREPROCESS, label))
    framework, facts = manifest["framework"], manifest["weights"]
    booster = None
    if "booster" in facts:
        booster = _checked(label, lambda: boosters.load(directory, facts, manifest["task"], lean=lean), fix="")

    def load_estimator() -> Any:
        if booster is not None and lean:
            raise BundleError(f"{label}: this model server loaded the booster alone (without scikit-learn); "
                              "build the estimator in another process", key=MANIFEST)
        return _checked(label, lambda: load_weights(framework, directory, facts), fix="")

    bundle = Bundle(path=directory, manifest=manifest, preprocessor=preprocessor, load_estimator=load_estimator,
                    booster=booster)
    if booster is None:
        bundle.estimator  # noqa: B018 - built now: a damaged archive is refused at load, not at the first request
    bundle.prepare_fast_path()
    return bundle
