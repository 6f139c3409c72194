"""What keeps a bundle honest below the CLI: the store's per-file hashes, the schemas, and the
loaders' refusal of links and paths. The CLI-level cases are in tests/reliability/test_corpus_bundles.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tesla.errors import BundleError, IntegrityError
from tesla.models import Preprocessor, check_bundle, load_bundle, save_bundle
from tesla.models.formats import load_weights
from tesla.models.schema import check_manifest, check_preprocess
from tesla.store import ArtifactStore, hash_path


# -- the artifact store's hash list ------------------------------------------------------------------------------
@pytest.fixture
def stored(tmp_path: Path) -> tuple[ArtifactStore, str, Path]:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    store = ArtifactStore(tmp_path / "artifacts")
    sha = store.put(src)
    return store, sha, store.path(sha)


def test_a_directory_object_keeps_the_hash_list_its_sha_is_the_hash_of(stored: tuple[ArtifactStore, str, Path]) -> None:
    import hashlib

    store, sha, tree = stored
    listing = (tree.parent / "_FILES").read_bytes()
    assert hashlib.sha256(listing).hexdigest() == sha == hash_path(tree)
    assert store.verify(sha) == tree


@pytest.mark.parametrize(("tamper", "message", "key"), [
    pytest.param(lambda t: (t / "a.txt").write_text("A"), "'a.txt' was changed", "a.txt", id="changed"),
    pytest.param(lambda t: (t / "sub" / "c.txt").write_text("c"), "'sub/c.txt' was added", "sub/c.txt", id="added"),
    pytest.param(lambda t: (t / "sub" / "b.txt").unlink(), "'sub/b.txt' was removed", "sub/b.txt", id="removed"),
    pytest.param(lambda t: (t / "link").symlink_to("/etc/passwd"), "'link' is a symbolic link", "link", id="link"),
    pytest.param(lambda t: (t.parent / "_FILES").write_text("a.txt\0" + "0" * 64), "hash list _FILES was edited",
                 "_FILES", id="hash-list"),
])
def test_verify_names_what_changed_since_the_object_was_stored(
        stored: tuple[ArtifactStore, str, Path], tamper: Callable[[Path], object], message: str, key: str) -> None:
    store, sha, tree = stored
    tamper(tree)
    with pytest.raises(IntegrityError, match=message) as err:
        store.verify(sha, label="the thing", hint="fix it")
    assert err.value.key == key and str(err.value).startswith("the thing: ") and str(err.value).endswith("(fix it)")


def test_an_object_stored_before_hash_lists_is_checked_by_its_tree_hash(stored: tuple[ArtifactStore, str, Path]) -> None:
    store, sha, tree = stored
    (tree.parent / "_FILES").unlink()
    assert store.verify(sha) == tree
    (tree / "a.txt").write_text("A")
    with pytest.raises(IntegrityError, match="tree's sha256 no longer matches"):
        store.verify(sha)


def test_a_file_object_is_checked_against_its_sha(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n")
    store = ArtifactStore(tmp_path / "artifacts")
    sha = store.put(tmp_path / "x.csv")
    assert store.verify(sha).read_text() == "a\n1\n"
    store.path(sha).write_text("a\n2\n")
    with pytest.raises(IntegrityError, match="its bytes were changed"):
        store.verify(sha)


# -- schemas -------------------------------------------------------------------------------------------------------
def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "num": rng.normal(size=n), "flag": rng.integers(0, 2, n).astype(bool),
        "cat": rng.choice(["a", "b", "c"], n), "many": [f"v{i % 20}" for i in range(n)],
        "when": pd.date_range("2020-01-01", periods=n, freq="7h").astype(str),
        "note": rng.choice(["short", "a longer note"], n),
    })


SCHEMA = {"num": "numeric", "flag": "boolean", "cat": "categorical", "many": "categorical", "when": "datetime",
          "note": "text"}


def test_every_feature_type_the_preprocessor_writes_passes_the_schema() -> None:
    pre = Preprocessor.fit(_frame(), {k: {"type": v} for k, v in SCHEMA.items()})
    features = check_preprocess(json.loads(json.dumps(pre.to_dict())))
    assert [f["type"] for f in features] == list(SCHEMA.values())
    assert {f.get("encoding") for f in features} >= {"onehot", "ordinal"}


@pytest.fixture(scope="module")
def sk_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.tree import DecisionTreeClassifier

    df = _frame()
    pre = Preprocessor.fit(df, {k: {"type": v} for k, v in SCHEMA.items()})
    y = (df["num"] > 0).astype(int)
    return save_bundle(tmp_path_factory.mktemp("sk") / "b", estimator=DecisionTreeClassifier(max_depth=2).fit(pre.transform(df), y),
                       framework="scikit-learn", preprocessor=pre, task="binary", classes=["no", "yes"],
                       estimator_name="lr", target="y")


def test_a_bundle_tesla_wrote_passes_every_check(sk_bundle: Path) -> None:
    assert check_bundle(sk_bundle)["framework"] == "scikit-learn"
    assert len(load_bundle(sk_bundle).predict(_frame().head(3))) == 3


@pytest.mark.parametrize(("field", "value", "message"), [
    ("task", "ranking", "field 'task' is 'ranking'; expected one of binary, multiclass, regression"),
    ("task", "binery", "Did you mean 'binary'\\?"),
    ("weights", {"file": "model.skops", "loader": "eval"}, "field 'weights.loader' is not a field Tesla writes"),
    ("weights", {"file": 3}, "field 'weights.file' must be string; got integer"),
    ("signature", [{"name": "num", "type": "code"}], "field 'signature\\[0\\].type' is 'code'"),
    ("bundle_format", True, "field 'bundle_format' must be integer; got boolean"),
])
def test_a_manifest_field_that_tesla_never_writes_is_named(sk_bundle: Path, field: str, value: object,
                                                           message: str) -> None:
    manifest = json.loads((sk_bundle / "manifest.json").read_text())
    manifest[field] = value
    with pytest.raises(BundleError, match=message):
        check_manifest(manifest)


# -- every loader refuses links and paths, on its own ---------------------------------------------------------------
def _linked_copy(bundle: Path, tmp_path: Path, name: str) -> Path:
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    outside = Path(shutil.copyfile(copy / name, tmp_path / name))
    (copy / name).unlink()
    (copy / name).symlink_to(outside)
    return copy


def _neural_bundle(tmp_path: Path, framework: str) -> Path:
    from tesla.automl._neural import MLPParams

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    y = (X["a"] > 0).astype(int).to_numpy()
    params = MLPParams(width=4, depth=1, epochs=1, batch_size=16)
    if framework == "pytorch":
        from tesla.automl.torch_learner import fit_torch_mlp

        model = fit_torch_mlp(X, y, classification=True, params=params)
    else:
        from tesla.automl.keras_learner import fit_keras_mlp

        model = fit_keras_mlp(X, y, classification=True, params=params)
    pre = Preprocessor.fit(X, {c: {"type": "numeric"} for c in X.columns})
    return save_bundle(tmp_path / framework, estimator=model, framework=framework, preprocessor=pre,
                       task="binary", classes=["no", "yes"], estimator_name="nn", target="y")


@pytest.mark.parametrize(("framework", "name"), [("scikit-learn", "model.skops"), ("pytorch", "model.safetensors"),
                                                 ("pytorch", "architecture.json"), ("tensorflow", "model.keras")])
def test_every_loader_refuses_a_linked_file(tmp_path: Path, sk_bundle: Path, framework: str, name: str) -> None:
    bundle = sk_bundle if framework == "scikit-learn" else _neural_bundle(tmp_path, framework)
    copy = _linked_copy(bundle, tmp_path, name)
    facts = json.loads((copy / "manifest.json").read_text())["weights"]
    with pytest.raises(BundleError, match=f"'{name}' is a symbolic link"):
        load_weights(framework, copy, facts)  # the loader alone, below the bundle's layout check
    with pytest.raises(BundleError, match=f"'{name}' is a symbolic link"):
        load_bundle(copy)


@pytest.mark.parametrize("framework", ["scikit-learn", "pytorch", "tensorflow"])
@pytest.mark.parametrize("name", ["../model", "/etc/passwd", "sub/model"])
def test_every_loader_refuses_a_path_out_of_the_bundle(tmp_path: Path, framework: str, name: str) -> None:
    with pytest.raises(BundleError, match="it must be a file inside the bundle"):
        load_weights(framework, tmp_path, {"file": name, "architecture": name, "task": "classification",
                                           "n_outputs": 2})
