"""The closed schemas of a bundle's JSON files: what Tesla writes is all that loads.

``manifest.json`` and ``preprocess.json`` are checked field by field (names, JSON types,
allowed values) before any weights are read or a request is served, so a forged or damaged
bundle is one ``BundleError`` naming the file and the field, never a ``KeyError`` at load or
a 500 on every request. Rules are data: a field maps to its allowed JSON types and whether
it is required; allowed values are tuples next to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from tesla.errors import BundleError, did_you_mean

__all__ = ["FEATURE_TYPES", "TASKS", "check_file_name", "check_manifest", "check_preprocess"]

MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
BUNDLE_FORMAT = 1
TASKS = ("binary", "multiclass", "regression")
FEATURE_TYPES = ("numeric", "boolean", "categorical", "datetime", "text")
ENCODINGS = ("onehot", "ordinal", "native")
DATE_PARTS = ("days", "year", "month", "day", "day_of_week", "hour")  # every part a Tesla version wrote

# JSON type names -> the Python types json.loads gives for them (bool is not a number here)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}
Fields = Mapping[str, tuple[str, bool]]  # field -> ("json types joined by |", required)

MANIFEST_FIELDS: Fields = {
    "bundle_format": ("integer", True), "framework": ("string", True), "task": ("string", True),
    "estimator": ("string", True), "classes": ("array|null", True), "target": ("string", True),
    "signature": ("array", True), "weights": ("object", True), "tesla_version": ("string", True),
    "metrics": ("object", True),
    # stamped by the search and register steps
    "baseline": ("object", False), "baseline_metrics": ("object", False), "best_config": ("object", False),
    "best_loss": ("number|null", False), "search_metric": ("string", False), "training_rows": ("integer", False),
    "seed": ("integer", False), "ensemble": ("array", False), "lineage": ("object", False),
    "refit": ("object", False),  # search.refit: which rows the model was fitted on, what its metrics mean
    # stamped by register from evaluate: the binary decision threshold (Bundle.decide)
    "decision": ("object", False),
}
# framework -> the facts its weight format writes (tesla.models.formats); "file"-like facts name files
WEIGHTS_FIELDS: dict[str, Fields] = {
    # a booster's own model file beside the wrapper (tesla.models.boosters): what a model server reads
    "scikit-learn": {"file": ("string", True), "booster": ("string", False), "booster_library": ("string", False),
                     "booster_iterations": ("array", False)},
    "pytorch": {"file": ("string", True), "architecture": ("string", True), "torch_version": ("string", False)},
    "tensorflow": {"file": ("string", True), "task": ("string", True), "n_outputs": ("integer", True),
                   "keras_version": ("string", False)},
}
FILE_FACTS = ("file", "architecture", "booster")
BOOSTER_LIBRARIES = ("lightgbm", "xgboost")
SIGNATURE_FIELDS: Fields = {"name": ("string", True), "type": ("string", True), "dtype": ("string", False),
                            "nullable": ("boolean", False), "categories": ("array", False)}
FEATURE_FIELDS: Fields = {"name": ("string", True), "type": ("string", True), "dtype": ("string", True),
                          "nullable": ("boolean", True)}
FEATURE_FIELDS_BY_TYPE: dict[str, Fields] = {
    "numeric": {"fill": ("number", True)},
    "boolean": {"fill": ("number", True), "categories": ("array", True)},
    "categorical": {"categories": ("array", True), "encoding": ("string", True)},
    "datetime": {"parts": ("array", False)},
    "text": {},
}


def _refuse(file: str, field: str, problem: str) -> BundleError:
    where = f"{file} field '{field}'" if field else file
    return BundleError(f"{where} {problem}", key=f"{file}:{field}" if field else file)


def _is(value: Any, types: str) -> bool:
    allowed = tuple(t for name in types.split("|") for t in _TYPES[name])
    return isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)


def _check_fields(obj: Any, fields: Fields, file: str, where: str) -> None:
    """``obj`` is a JSON object with exactly ``fields`` (the required ones present), each of its type."""
    if not isinstance(obj, dict):
        raise _refuse(file, where, f"must be a JSON object; got {type(obj).__name__}")
    prefix = f"{where}." if where else ""
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise _refuse(file, prefix + str(unknown[0]), f"is not a field Tesla writes; allowed: {', '.join(fields)}"
                      + _suggest(unknown[0], fields))
    missing = [k for k, (_, required) in fields.items() if required and k not in obj]
    if missing:
        raise _refuse(file, prefix + missing[0], "is missing")
    for key, (types, _) in fields.items():
        if key in obj and not _is(obj[key], types):
            raise _refuse(file, prefix + key, f"must be {' or '.join(types.split('|'))}; got {_json_type(obj[key])}")


def _json_type(value: Any) -> str:
    order = ("integer", "number", "boolean", "string", "array", "object", "null")
    return next((name for name in order if _is(value, name)), type(value).__name__)


def _one_of(value: Any, allowed: tuple[str, ...], file: str, field: str) -> None:
    if value not in allowed:
        raise _refuse(file, field, f"is {value!r}; expected one of {', '.join(allowed)}" + _suggest(value, allowed))


def _suggest(value: Any, options: Any) -> str:
    hint = did_you_mean(value, options)
    return f".{hint}" if hint else ""


def check_file_name(name: Any, file: str, field: str) -> str:
    """A file name a bundle may refer to: one plain name inside the bundle, no path, no link target."""
    text = str(name)
    if (not isinstance(name, str) or text in {"", ".", ".."} or "\0" in text
            or PurePosixPath(text).name != text or PureWindowsPath(text).name != text):
        raise _refuse(file, field, f"is {text!r}; it must be a file inside the bundle (a plain name, no path)")
    return text


def check_manifest(manifest: Any) -> dict[str, Any]:
    """Check a parsed ``manifest.json``; returns it. Raises ``BundleError`` naming the field."""
    from tesla.models.formats import WEIGHT_FORMATS

    _check_fields(manifest, MANIFEST_FIELDS, MANIFEST, "")
    if manifest["bundle_format"] != BUNDLE_FORMAT:
        raise _refuse(MANIFEST, "bundle_format", f"is {manifest['bundle_format']}; this Tesla reads format "
                      f"{BUNDLE_FORMAT}")
    _one_of(manifest["framework"], tuple(WEIGHT_FORMATS), MANIFEST, "framework")
    _one_of(manifest["task"], TASKS, MANIFEST, "task")
    classes = manifest["classes"]
    if manifest["task"] == "regression" and classes is not None:
        raise _refuse(MANIFEST, "classes", "must be null for a regression model")
    if manifest["task"] != "regression" and (not classes or not all(_is(c, "string|number|boolean") for c in classes)):
        raise _refuse(MANIFEST, "classes", "must be a non-empty list of labels for a classification model")
    for i, entry in enumerate(manifest["signature"]):
        _check_fields(entry, SIGNATURE_FIELDS, MANIFEST, f"signature[{i}]")
        _one_of(entry["type"], FEATURE_TYPES, MANIFEST, f"signature[{i}].type")
    weights = manifest["weights"]
    _check_fields(weights, WEIGHTS_FIELDS[manifest["framework"]], MANIFEST, "weights")
    for key in FILE_FACTS:
        if key in weights:
            check_file_name(weights[key], MANIFEST, f"weights.{key}")
    _check_booster(weights)
    return manifest


def _check_booster(weights: Mapping[str, Any]) -> None:
    """The booster facts come together: a file, its library, and (XGBoost) two iteration bounds."""
    named = [k for k in ("booster", "booster_library") if k in weights]
    if len(named) == 1:
        other = "booster_library" if named == ["booster"] else "booster"
        raise _refuse(MANIFEST, f"weights.{other}", f"is missing; it comes with weights.{named[0]}")
    if not named:
        if "booster_iterations" in weights:
            raise _refuse(MANIFEST, "weights.booster_iterations", "is set without weights.booster")
        return
    _one_of(weights["booster_library"], BOOSTER_LIBRARIES, MANIFEST, "weights.booster_library")
    span = weights.get("booster_iterations")
    if weights["booster_library"] == "xgboost" and span is None:
        raise _refuse(MANIFEST, "weights.booster_iterations", "is missing; an XGBoost booster needs it")
    if span is not None and not (len(span) == 2 and all(_is(v, "integer") and v >= 0 for v in span)):
        raise _refuse(MANIFEST, "weights.booster_iterations", f"is {span!r}; expected [start, end], "
                      "two non-negative integers")


def check_preprocess(data: Any) -> list[dict[str, Any]]:
    """Check a parsed ``preprocess.json``; returns its features. Raises ``BundleError`` naming the field."""
    _check_fields(data, {"features": ("array", True)}, PREPROCESS, "")
    features = data["features"]
    if not features:
        raise _refuse(PREPROCESS, "features", "is empty; a model needs at least one feature")
    seen: set[str] = set()
    for i, f in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(f, dict):
            raise _refuse(PREPROCESS, where, f"must be a JSON object; got {_json_type(f)}")
        _one_of(f.get("type"), FEATURE_TYPES, PREPROCESS, f"{where}.type")
        _check_fields(f, {**FEATURE_FIELDS, **FEATURE_FIELDS_BY_TYPE[f["type"]]}, PREPROCESS, where)
        if f["name"] in seen or not f["name"]:
            raise _refuse(PREPROCESS, f"{where}.name", f"is {f['name']!r}: empty or used by an earlier feature")
        seen.add(f["name"])
        _check_feature_values(f, where)
    return features


def _check_feature_values(f: Mapping[str, Any], where: str) -> None:
    if "fill" in f and not math.isfinite(f["fill"]):
        raise _refuse(PREPROCESS, f"{where}.fill", f"is {f['fill']!r}; it must be a finite number")
    if "categories" in f and not all(isinstance(c, str) for c in f["categories"]):
        raise _refuse(PREPROCESS, f"{where}.categories", "must be a list of strings")
    if f["type"] == "categorical":
        _one_of(f["encoding"], ENCODINGS, PREPROCESS, f"{where}.encoding")
    for i, part in enumerate(f.get("parts", [])):
        _one_of(part, DATE_PARTS, PREPROCESS, f"{where}.parts[{i}]")


def check_agreement(manifest: Mapping[str, Any], features: list[dict[str, Any]]) -> None:
    """The manifest's signature and the preprocessing describe the same columns, in the same order."""
    signed = [(s["name"], s["type"]) for s in manifest["signature"]]
    fitted = [(f["name"], f["type"]) for f in features]
    if signed != fitted:
        first = next((i for i, (a, b) in enumerate(zip(signed, fitted)) if a != b), min(len(signed), len(fitted)))
        raise _refuse(PREPROCESS, f"features[{first}]", "does not match manifest.json's signature "
                      f"(the manifest lists {len(signed)} feature(s), the preprocessing {len(fitted)}); "
                      "the two files come from different models")
