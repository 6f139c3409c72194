"""Safe weight formats: every framework's bundle round-trips, and a tampered or untrusted
bundle is refused with a one-line BundleError before any of its code could run."""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tesla.errors import BundleError
from tesla.models import Preprocessor, load_bundle, read_manifest, save_bundle, write_manifest

MARKER_NAME = "code-ran"


class Exploit:
    """Unpickling this writes a marker file: if a loader ever unpickles, the test sees it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (Path.write_text, (self.marker, "pwned"))


def _frame(task: str, n: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(5, 2, size=n), "c": np.ones(n)})
    if task == "regression":
        return X, (3 * X["a"] - X["b"]).to_numpy()
    return X, (X["a"] > 0).astype(int).to_numpy() + (X["b"] > 6).astype(int).to_numpy()


def _fit(framework: str, X: pd.DataFrame, y: np.ndarray, classification: bool) -> Any:
    from tesla.automl._neural import MLPParams

    params = MLPParams(width=8, depth=1, epochs=3, batch_size=16)
    if framework == "pytorch":
        from tesla.automl.torch_learner import fit_torch_mlp

        return fit_torch_mlp(X, y, classification=classification, params=params)
    from tesla.automl.keras_learner import fit_keras_mlp

    return fit_keras_mlp(X, y, classification=classification, params=params)


def _bundle(tmp_path: Path, framework: str, task: str) -> tuple[Path, pd.DataFrame]:
    X, y = _frame(task)
    model = _fit(framework, X, y, task != "regression")
    pre = Preprocessor.fit(X, {c: {"type": "numeric"} for c in X.columns})
    classes = None if task == "regression" else ["low", "mid", "high"]
    path = save_bundle(tmp_path / f"{framework}-{task}", estimator=model, framework=framework, preprocessor=pre,
                       task=task, classes=classes, estimator_name="nn", target="y")
    return path, X


@pytest.fixture(scope="module")
def torch_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    return _bundle(tmp_path_factory.mktemp("torch"), "pytorch", "multiclass")


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    return Path(shutil.copytree(src, dst))


# -- round trips ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_bundle_round_trip_predicts_identically(tmp_path: Path, framework: str, task: str) -> None:
    path, X = _bundle(tmp_path, framework, task)
    bundle = load_bundle(path)
    expected = {"pytorch": "TorchTabularModel", "tensorflow": "KerasTabularModel"}[framework]
    assert type(bundle.estimator).__name__ == expected
    rows = X.head(7)
    fresh = load_bundle(path).predict_records(rows)
    assert bundle.predict_records(rows) == fresh
    if task == "regression":
        values = bundle.predict(rows)
        assert values.shape == (7,) and np.isfinite(values).all()
    else:
        proba = bundle.predict_proba(rows)
        assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1.0)
        assert set(bundle.predict(rows)) <= {"low", "mid", "high"}


def test_pytorch_bundle_holds_tensors_and_a_json_architecture(torch_bundle: tuple[Path, pd.DataFrame]) -> None:
    path, X = torch_bundle
    manifest = read_manifest(path)
    assert manifest["framework"] == "pytorch"
    assert manifest["weights"]["file"] == "model.safetensors"
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl")) and not list(path.glob("*.skops"))
    arch = json.loads((path / "architecture.json").read_text())
    assert arch["hidden"] == [8] and arch["n_features"] == 3 and arch["task"] == "classification"
    assert arch["feature_mean"][1] == pytest.approx(X["b"].mean(), rel=1e-5)
    assert arch["feature_scale"][2] == 1.0  # a constant column maps to 0, not to inf


def test_tensorflow_bundle_is_a_keras_archive_with_standardisation_inside(tmp_path: Path) -> None:
    path, X = _bundle(tmp_path, "tensorflow", "regression")
    assert read_manifest(path)["weights"]["file"] == "model.keras"
    with zipfile.ZipFile(path / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    layers = {layer["class_name"] for layer in config["config"]["layers"]}
    assert layers <= {"InputLayer", "Normalization", "Dense", "Dropout", "Rescaling"}
    assert {"Normalization", "Rescaling"} <= layers


# -- refusals: PyTorch -----------------------------------------------------------------------------------------
def test_pickle_in_place_of_safetensors_is_refused_without_running(
        tmp_path: Path, torch_bundle: tuple[Path, pd.DataFrame]) -> None:
    path = _copy(torch_bundle[0], tmp_path / "b")
    marker = tmp_path / MARKER_NAME
    (path / "model.safetensors").write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(BundleError, match=r"model\.safetensors'?: not a safetensors file.*never pickled") as err:
        load_bundle(path)
    assert not marker.exists()
    assert "\n" not in str(err.value)


def test_torch_save_checkpoint_is_refused(tmp_path: Path, torch_bundle: tuple[Path, pd.DataFrame]) -> None:
    import torch

    path = _copy(torch_bundle[0], tmp_path / "b")
    model = load_bundle(path).estimator
    torch.save(model.module.state_dict(), path / "model.safetensors")  # a pickle-based zip
    with pytest.raises(BundleError, match="not a safetensors file"):
        load_bundle(path)


def _edit(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda arch: arch.__setitem__(field, value)


ARCH_TAMPERING = [
    pytest.param(_edit("activation", "os.system"), "activation must be one of relu", id="unknown-activation"),
    pytest.param(_edit("hidden", [1 << 30]), "layer sizes out of range", id="huge-layer"),
    pytest.param(_edit("__class__", "torch.nn.Module"), "fields are not the ones Tesla writes", id="extra-field"),
    pytest.param(lambda a: a.pop("feature_scale"), "fields are not the ones Tesla writes", id="missing-field"),
    pytest.param(_edit("n_features", "3"), "n_features have the wrong type", id="wrong-type"),
    pytest.param(_edit("feature_scale", [1.0, 0.0, 1.0]), "standardisation stats", id="zero-scale"),
    pytest.param(_edit("task", "ranking"), "task must be one of", id="unknown-task"),
]


@pytest.mark.parametrize(("tamper", "message"), ARCH_TAMPERING)
def test_tampered_architecture_is_refused(tmp_path: Path, torch_bundle: tuple[Path, pd.DataFrame],
                                          tamper: Callable[[dict[str, Any]], None], message: str) -> None:
    path = _copy(torch_bundle[0], tmp_path / "b")
    arch = json.loads((path / "architecture.json").read_text())
    tamper(arch)
    (path / "architecture.json").write_text(json.dumps(arch))
    with pytest.raises(BundleError, match=rf"refusing to load .*architecture\.json'?: .*{message}"):
        load_bundle(path)


def test_tensors_that_do_not_fit_the_architecture_are_refused(
        tmp_path: Path, torch_bundle: tuple[Path, pd.DataFrame]) -> None:
    path = _copy(torch_bundle[0], tmp_path / "b")
    arch = json.loads((path / "architecture.json").read_text())
    arch["hidden"] = [9]
    (path / "architecture.json").write_text(json.dumps(arch))
    with pytest.raises(BundleError, match="its tensors do not match architecture.json"):
        load_bundle(path)


@pytest.mark.parametrize("name", ["../model.safetensors", "/etc/passwd"])
def test_weights_outside_the_bundle_are_refused(tmp_path: Path, torch_bundle: tuple[Path, pd.DataFrame],
                                                name: str) -> None:
    path = _copy(torch_bundle[0], tmp_path / "b")
    manifest = read_manifest(path)
    manifest["weights"]["file"] = name
    write_manifest(path, manifest)
    with pytest.raises(BundleError, match="it must be a file inside the bundle"):
        load_bundle(path)


# -- refusals: Keras -------------------------------------------------------------------------------------------
def test_keras_lambda_layer_is_refused_by_safe_mode(tmp_path: Path) -> None:
    from tesla.models.keras_format import keras

    path, _ = _bundle(tmp_path, "tensorflow", "regression")
    evil = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(1)])
    evil.save(path / "model.keras")  # Python bytecode inside: loading it could run anything
    with pytest.raises(BundleError, match=r"refusing to load .*model\.keras'?: Keras safe mode rejected it") as err:
        load_bundle(path)
    assert "Lambda" in str(err.value) and "\n" not in str(err.value)


def test_keras_file_that_is_a_pickle_is_refused(tmp_path: Path) -> None:
    path, _ = _bundle(tmp_path, "tensorflow", "regression")
    marker = tmp_path / MARKER_NAME
    (path / "model.keras").write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(BundleError, match="Keras safe mode rejected it"):
        load_bundle(path)
    assert not marker.exists()


def test_keras_network_of_another_shape_is_refused(tmp_path: Path) -> None:
    from tesla.models.keras_format import keras

    path, _ = _bundle(tmp_path, "tensorflow", "regression")
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).save(path / "model.keras")
    with pytest.raises(BundleError, match="not the 1-output network its manifest describes"):
        load_bundle(path)


# -- refusals: skops (scikit-learn family) ---------------------------------------------------------------------
def test_skops_bundle_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    X, y = _frame("regression")
    pre = Preprocessor.fit(X, {c: {"type": "numeric"} for c in X.columns})
    path = save_bundle(tmp_path / "sk", estimator=LinearRegression().fit(X, y), framework="scikit-learn",
                       preprocessor=pre, task="regression", classes=None, estimator_name="lr", target="y")
    assert load_bundle(path).predict(X.head(2)).shape == (2,)
    sio.dump(Exploit(tmp_path / MARKER_NAME), path / "model.skops")
    with pytest.raises(BundleError, match=r"untrusted type\(s\) .*test_weight_formats\.Exploit"):
        load_bundle(path)
    assert not (tmp_path / MARKER_NAME).exists()


def test_the_replayed_skops_answer_is_refused_again_and_never_stands_for_other_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``check_bundle`` replays skops' list of types for bytes it read before; the list is judged again each
    time, and an archive with other bytes is read by skops itself."""
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    from tesla.models import check_bundle
    from tesla.models.formats import _library_tag
    from tesla.store.artifacts import hash_path

    monkeypatch.setenv("TESLA_CACHE_DIR", str(tmp_path / "cache"))
    X, y = _frame("regression")
    pre = Preprocessor.fit(X, {c: {"type": "numeric"} for c in X.columns})
    path = save_bundle(tmp_path / "sk", estimator=LinearRegression().fit(X, y), framework="scikit-learn",
                       preprocessor=pre, task="regression", classes=None, estimator_name="lr", target="y")
    check_bundle(path)
    entry = tmp_path / "cache" / "skops-types" / _library_tag() / f"{hash_path(path / 'model.skops')}.json"
    assert json.loads(entry.read_text()) == []  # skops trusts every type of a linear model itself
    entry.write_text(json.dumps(["os.system"]))  # as if an older Tesla had trusted it: refused now
    with pytest.raises(BundleError, match=r"untrusted type\(s\) os\.system"):
        check_bundle(path)
    sio.dump(Exploit(tmp_path / MARKER_NAME), path / "model.skops")  # other bytes: skops reads them
    with pytest.raises(BundleError, match=r"untrusted type\(s\) .*test_weight_formats\.Exploit"):
        check_bundle(path)
    assert not (tmp_path / MARKER_NAME).exists()


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_saving_a_foreign_object_is_refused(tmp_path: Path, framework: str) -> None:
    from tesla.models.formats import save_weights

    with pytest.raises(BundleError, match=f"the {framework} weight format saves Tesla's"):
        save_weights(framework, object(), tmp_path)
