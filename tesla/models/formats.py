"""Weight formats: how each framework's fitted estimator is written and read safely.

A format is a pair of functions ``save(estimator, directory) -> dict`` (facts for the
manifest) and ``load(directory, facts) -> estimator``. None of them uses pickle: the
scikit-learn family goes through skops with an explicit list of trusted types; PyTorch
and TensorFlow formats (safetensors / ``.keras`` with safe mode) register here too. Every
loader opens its files through ``bundle_file``, which refuses a path, a link or anything
but a plain file inside the bundle.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tesla.errors import BundleError, DependencyError

__all__ = ["SKOPS_TRUSTED", "WEIGHT_FORMATS", "bundle_file", "check_weights", "load_weights", "save_weights"]

# Types beyond skops' defaults that Tesla's scikit-learn-family estimators need. Anything
# else found in a bundle is refused: loading it could execute code.
SKOPS_TRUSTED = (
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",  # a dict: named_estimators_ of a stacked ensemble
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
)

_SKOPS_FILE = "model.skops"


def _import_skops() -> Any:
    """``skops.io``, imported without importing torch.

    Importing skops.io lists scikit-learn's estimators by walking every scikit-learn package,
    and walking imports each package, including the vendored array-API shim for torch, which
    imports torch (~2 s) wherever torch is installed. A placeholder stands in for that one
    package while skops imports and is removed right after, so a real use still imports it.
    """
    import sys
    import types

    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io as sio

        return sio
    name = "sklearn.externals.array_api_compat.torch"
    placeholder = types.ModuleType(name)
    placeholder.__path__ = []  # a package with nothing inside: the walk stops here
    sys.modules.setdefault(name, placeholder)
    try:
        import skops.io as sio  # lazy: ~0.5-2 s of imports
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]
    return sio


def _skops_save(estimator: Any, directory: Path) -> dict[str, Any]:
    sio = _import_skops()

    path = directory / _SKOPS_FILE
    sio.dump(estimator, path)
    untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(SKOPS_TRUSTED))
    if untrusted:
        path.unlink()
        raise BundleError(f"cannot save a {type(estimator).__name__}: it holds type(s) "
                          f"{', '.join(untrusted)} that Tesla does not trust to load")
    return {"file": _SKOPS_FILE}


def bundle_file(directory: Path, facts: Mapping[str, Any], key: str, default: str) -> Path:
    """The file the weights fact ``key`` names: a plain file directly inside ``directory``, never a link.

    Raises:
        BundleError: the name is a path (``../x``, ``/etc/passwd``), or the file is missing, a link or not
            a plain file; ``key`` names the file.
    """
    from tesla.models.schema import MANIFEST, check_file_name

    name = check_file_name(facts.get(key, default), MANIFEST, f"weights.{key}")
    path = directory / name
    if path.is_symlink():
        raise BundleError(f"'{name}' is a symbolic link (to '{os.readlink(path)}'); weights must be a plain file "
                          "inside the bundle", key=name)
    if not path.is_file():
        what = "weights" if key == "file" else key
        raise BundleError(f"the {what} file '{name}' is missing or not a plain file; re-train the model", key=name)
    return path


def _skops_types(sio: Any, path: Path) -> list[str]:
    """The types a skops archive holds, read from its schema alone (nothing is built); refused unless trusted."""
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:  # any failure to parse untrusted bytes is the same refusal
        raise BundleError(f"refusing to load '{path.name}': not a skops file written by Tesla "
                          f"({type(exc).__name__}: {_first_line(exc)})", key=path.name) from exc
    refused = sorted(set(found) - set(SKOPS_TRUSTED))
    if refused:
        raise BundleError(f"refusing to load '{path.name}': it holds untrusted type(s) {', '.join(refused)}; "
                          "only bundles written by Tesla's own learners load", key=path.name)
    return list(found)


def _skops_check(directory: Path, facts: Mapping[str, Any]) -> None:
    _skops_types(_import_skops(), bundle_file(directory, facts, "file", _SKOPS_FILE))


def _skops_load(directory: Path, facts: Mapping[str, Any]) -> Any:
    sio = _import_skops()

    path = bundle_file(directory, facts, "file", _SKOPS_FILE)
    found = _skops_types(sio, path)
    try:
        return sio.load(path, trusted=list(found))
    except Exception as exc:  # every type in it is trusted: only damaged bytes fail here
        raise BundleError(f"refusing to load '{path.name}': its content is damaged "
                          f"({type(exc).__name__}: {_first_line(exc)})", key=path.name) from exc


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


Saver = Callable[[Any, Path], dict[str, Any]]
Loader = Callable[[Path, Mapping[str, Any]], Any]

# framework -> (save, load) or "module" whose SAVE/LOAD functions implement the format
WEIGHT_FORMATS: dict[str, tuple[Saver, Loader] | str] = {
    "scikit-learn": (_skops_save, _skops_load),
    "pytorch": "tesla.models.torch_format",
    "tensorflow": "tesla.models.keras_format",
}

_EXTRA = {"pytorch": "pytorch", "tensorflow": "tensorflow"}


def _resolve(framework: str) -> tuple[Saver, Loader]:
    entry = WEIGHT_FORMATS.get(framework)
    if entry is None:
        raise BundleError(f"unknown model framework '{framework}'; known: {', '.join(WEIGHT_FORMATS)}")
    if isinstance(entry, tuple):
        return entry
    try:
        module = importlib.import_module(entry)
    except ImportError as exc:
        raise DependencyError(f"the {framework} framework is not installed ({exc.name}); run: "
                              f"pip install 'tesla-ml[{_EXTRA.get(framework, framework)}]'") from exc
    return module.save, module.load


def save_weights(framework: str, estimator: Any, directory: Path) -> dict[str, Any]:
    """Write ``estimator`` into ``directory``; returns facts for the manifest."""
    return _resolve(framework)[0](estimator, directory)


# framework -> a check that reads no more than it must (no estimator built, no heavy framework import)
_CHECKS: dict[str, Callable[[Path, Mapping[str, Any]], None]] = {"scikit-learn": _skops_check}
_FILE_FACTS = ("file", "architecture")


def check_weights(framework: str, directory: Path, facts: Mapping[str, Any]) -> None:
    """Refuse weights that would not load safely, without loading them: every file the facts name is a
    plain file inside ``directory``, and a skops archive holds trusted types only."""
    for key in _FILE_FACTS:
        if key in facts:
            bundle_file(directory, facts, key, "")
    check = _CHECKS.get(framework)
    if check is not None:
        check(directory, facts)


def load_weights(framework: str, directory: Path, facts: Mapping[str, Any]) -> Any:
    """Read an estimator written by ``save_weights`` without executing untrusted code."""
    return _resolve(framework)[1](directory, facts)
