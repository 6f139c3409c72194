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
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tesla.cache import cache_root
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
    """``skops.io``, imported without walking scikit-learn when the walk's answer is cached.

    Importing skops.io lists scikit-learn's estimators (``sklearn.utils.all_estimators``) to
    build its default trusted types, and listing them imports every scikit-learn module:
    ~1.5 s, pytest included (through ``sklearn.utils._testing``), and torch wherever torch is
    installed (the vendored array-API shim). skops only keeps each estimator's
    ``module.Name``, so the list is cached per scikit-learn and skops version
    (``_estimator_cache``) and replayed as named stand-ins: skops builds the same trusted
    names without the walk. Without a cache entry the walk runs once, with a placeholder for
    the torch shim, and its answer is saved.
    """
    import sys

    if "skops.io" in sys.modules:
        import skops.io as sio

        return sio
    import sklearn.utils

    cache = _estimator_cache()
    names = _read_estimator_names(cache)
    real = sklearn.utils.all_estimators
    if names is not None:
        stand_ins = [(n.rpartition(".")[2], type(n.rpartition(".")[2], (), {"__module__": n.rpartition(".")[0]}))
                     for n in names]
        sklearn.utils.all_estimators = lambda *_a, **_k: list(stand_ins)
    try:
        sio = _import_skops_walking() if names is None else _import_skops_io()
    finally:
        sklearn.utils.all_estimators = real
    if names is None:
        _write_estimator_names(cache, importlib.import_module("skops.io._trusted_types").SKLEARN_ESTIMATOR_TYPE_NAMES)
    return sio


def _import_skops_io() -> Any:
    """``import skops.io`` with its ``whichmodule`` answering without raising an exception per module.

    skops names each numpy/scipy ufunc (~840 of them) by asking every loaded module for it with
    ``getattr(module, name, None)``; a missing attribute raises and catches an AttributeError
    inside, ~6 us each, over 150 k lookups: ~1 s, more the more modules a process holds. Reading
    a plain module's ``__dict__`` gives the same answer (the same modules, in the same order,
    the first that holds the very object) at a dict lookup's cost; any other module is still
    asked with ``getattr``. The package is created, its ``_utils`` patched, then its
    ``__init__`` run, so the patch is in place for skops' own import; restored after.
    """
    import importlib.util
    import sys

    spec = importlib.util.find_spec("skops.io")
    if spec is None or spec.loader is None or "skops.io" in sys.modules:
        return importlib.import_module("skops.io")
    package = importlib.util.module_from_spec(spec)
    sys.modules["skops.io"] = package
    try:
        utils = importlib.import_module("skops.io._utils")
        original = utils.whichmodule
        utils.whichmodule = _whichmodule_by_dict(original)
        try:
            spec.loader.exec_module(package)
        finally:
            utils.whichmodule = original
    except BaseException:
        for name in [m for m in sys.modules if m == "skops.io" or m.startswith("skops.io.")]:
            del sys.modules[name]  # a half-imported package must not be found by the next import
        raise
    return package


def _whichmodule_by_dict(original: Callable[[Any, str], str]) -> Callable[[Any, str], str]:
    import sys
    import types
    import warnings

    seen: dict[str, Any] = {}
    modules: list[tuple[str, dict[str, Any] | None, Any]] = []

    def loaded() -> list[tuple[str, dict[str, Any] | None, Any]]:
        """(name, namespace when a dict lookup answers for the module, module), in sys.modules order."""
        now = sys.modules.copy()
        if now != seen:  # a module was imported (or replaced) since the last call: look again
            seen.clear()
            seen.update(now)
            modules[:] = [(n, vars(m) if type(m) is types.ModuleType and "__getattr__" not in vars(m) else None, m)
                          for n, m in now.items() if n not in ("__main__", "__mp_main__") and m is not None]
        return modules

    def whichmodule(obj: Any, name: str) -> str:
        if getattr(obj, "__module__", None) is not None or "." in name:
            return original(obj, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # as skops: numpy.core's renames
            for module_name, namespace, module in loaded():
                if namespace is not None:
                    found = namespace.get(name)
                else:  # a module with its own __getattr__, or not a plain module: ask it, as skops does
                    try:
                        found = getattr(module, name, None)
                    except (AttributeError, ImportError):
                        continue
                if found is obj:
                    return module_name
        return "__main__"

    return whichmodule


def _import_skops_walking() -> Any:
    """``skops.io`` imported the slow way (walking scikit-learn), without the walk importing torch."""
    import sys
    import types

    if "torch" in sys.modules:
        return _import_skops_io()
    name = "sklearn.externals.array_api_compat.torch"
    placeholder = types.ModuleType(name)
    placeholder.__path__ = []  # a package with nothing inside: the walk stops here
    sys.modules.setdefault(name, placeholder)
    try:
        return _import_skops_io()  # lazy: ~0.5-2 s of imports
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


def _library_tag() -> str:
    from importlib.metadata import version

    return f"sklearn{version('scikit-learn')}-skops{version('skops')}"


def _estimator_cache() -> Path:
    """Where the estimator list of this scikit-learn + skops pair is kept (``cache_root``)."""
    return cache_root() / f"skops-estimators-{_library_tag()}.json"


def _read_estimator_names(path: Path) -> list[str] | None:
    import json

    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # no cache yet, or a damaged one: walk again
    if not (isinstance(names, list) and names and all(isinstance(n, str) and "." in n for n in names)):
        return None
    return names


def _write_estimator_names(path: Path, names: list[str]) -> None:
    import json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(list(names)))
        tmp.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
    except OSError:
        pass  # a read-only home: the next import walks again, nothing breaks


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
    _refuse_untrusted(path, found)
    return list(found)


def _refuse_untrusted(path: Path, found: Sequence[str]) -> None:
    refused = sorted(set(found) - set(SKOPS_TRUSTED))
    if refused:
        raise BundleError(f"refusing to load '{path.name}': it holds untrusted type(s) {', '.join(refused)}; "
                          "only bundles written by Tesla's own learners load", key=path.name)


def _skops_check(directory: Path, facts: Mapping[str, Any]) -> None:
    """``_skops_types`` of the archive, its answer replayed when these very bytes were read before.

    skops' answer for a file depends on its bytes and the skops and scikit-learn versions only, so it is
    kept under the file's sha256 (``cache_root()/skops-types``) and the refusal is applied to it again each
    time (``SKOPS_TRUSTED`` may have changed). A replay does not import skops, and with it scikit-learn
    (~2 s): the registration of a model reads the archive, so the ``tesla deploy`` after it does not. The
    process that builds the estimator (``_skops_load``) always asks skops itself.
    """
    from tesla.store.artifacts import hash_path

    path = bundle_file(directory, facts, "file", _SKOPS_FILE)
    entry = cache_root() / "skops-types" / _library_tag() / f"{hash_path(path)}.json"
    try:
        found = json.loads(entry.read_text())
    except (OSError, ValueError):
        found = None
    if isinstance(found, list) and all(isinstance(name, str) for name in found):
        _refuse_untrusted(path, found)
        return
    found = _skops_types(_import_skops(), path)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found))
        tmp.replace(entry)  # atomic: a concurrent reader sees no file or the whole answer
    except OSError:
        pass  # a read-only home: the next check asks skops again


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
_FILE_FACTS = ("file", "architecture", "booster")


def check_weights(framework: str, directory: Path, facts: Mapping[str, Any], *, archive: bool = True) -> None:
    """Refuse weights that would not load safely, without loading them: every file the facts name is a
    plain file inside ``directory``, and (``archive``) a skops archive holds trusted types only."""
    for key in _FILE_FACTS:
        if key in facts:
            bundle_file(directory, facts, key, "")
    check = _CHECKS.get(framework)
    if check is not None and archive:
        check(directory, facts)


def load_weights(framework: str, directory: Path, facts: Mapping[str, Any]) -> Any:
    """Read an estimator written by ``save_weights`` without executing untrusted code."""
    return _resolve(framework)[1](directory, facts)
