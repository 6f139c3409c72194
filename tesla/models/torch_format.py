"""PyTorch weight format: ``model.safetensors`` (tensors only) + ``architecture.json``.

Nothing is unpickled on load. The module is rebuilt from the JSON description, which is
checked against a closed schema first, and the tensors are read with safetensors and
must match that module exactly, so a tampered bundle fails with ``BundleError`` instead
of running code. The description also carries the standardisation statistics, so the
bundle predicts from the shared Preprocessor's all-numeric frame alone.

Imported lazily through ``tesla.models.formats``: importing it imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from tesla.errors import BundleError, DataError
from tesla.models.formats import bundle_file

__all__ = ["ARCHITECTURE_FILE", "WEIGHTS_FILE", "TorchTabularModel", "build_module", "load", "save"]

WEIGHTS_FILE = "model.safetensors"
ARCHITECTURE_FILE = "architecture.json"
ARCHITECTURE_VERSION = 1
TASKS = ("classification", "regression")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU}
# a description asking for more than this is refused: it could only be a forged bundle
MAX_HIDDEN_LAYERS, MAX_UNITS = 16, 1 << 16
_CHUNK = 1 << 16  # rows per forward pass when predicting

# key -> JSON type of every field the description must have, and nothing else
_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "version": int, "kind": str, "task": str, "n_features": int, "hidden": list, "activation": str,
    "dropout": (int, float), "n_outputs": int, "feature_mean": list, "feature_scale": list,
    "target_mean": (int, float), "target_scale": (int, float),
}


def build_module(arch: Mapping[str, Any]) -> nn.Sequential:
    """The MLP an architecture description names: [Linear, activation, Dropout] x depth, Linear."""
    layers: list[nn.Module] = []
    width_in = int(arch["n_features"])
    for width in arch["hidden"]:
        layers += [nn.Linear(width_in, int(width)), ACTIVATIONS[arch["activation"]](), nn.Dropout(arch["dropout"])]
        width_in = int(width)
    layers.append(nn.Linear(width_in, int(arch["n_outputs"])))
    return nn.Sequential(*layers)


class TorchTabularModel:
    """A fitted tabular MLP and its standardisation: what a bundle stores and serves.

    Args:
        architecture: the JSON description (see ``build_module`` and ``_SCHEMA``).
        module: the trained ``nn.Sequential`` built from it.
    """

    def __init__(self, architecture: Mapping[str, Any], module: nn.Module) -> None:
        self.architecture = dict(architecture)
        self.module = module.cpu().eval()
        self._mean = np.asarray(architecture["feature_mean"], dtype="float32")
        self._scale = np.asarray(architecture["feature_scale"], dtype="float32")
        if self.task == "classification":
            self.classes_ = np.arange(int(architecture["n_outputs"]))

    @property
    def task(self) -> str:
        return str(self.architecture["task"])

    @property
    def n_features_in_(self) -> int:
        return int(self.architecture["n_features"])

    def _outputs(self, X: Any) -> np.ndarray:
        x = np.asarray(X, dtype="float32")
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataError(f"the PyTorch model takes {self.n_features_in_} feature columns; got shape {x.shape}")
        x = np.ascontiguousarray((x - self._mean) / self._scale)
        with torch.no_grad():
            parts = [self.module(torch.from_numpy(x[i:i + _CHUNK])).numpy() for i in range(0, len(x), _CHUNK)]
        return np.concatenate(parts).astype("float64") if parts else np.zeros((0, self.architecture["n_outputs"]))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class code 0..k-1."""
        if self.task != "classification":
            raise DataError("predict_proba is only defined for classification models")
        logits = self._outputs(X)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Class codes (classification) or values in the target's units (regression)."""
        if self.task == "classification":
            return self.predict_proba(X).argmax(axis=1)
        out = self._outputs(X)[:, 0]
        return out * float(self.architecture["target_scale"]) + float(self.architecture["target_mean"])


def save(estimator: Any, directory: Path) -> dict[str, Any]:
    """Write the tensors with safetensors and the description as JSON; returns manifest facts."""
    if not isinstance(estimator, TorchTabularModel):
        raise BundleError(f"the pytorch weight format saves Tesla's TorchTabularModel; got {type(estimator).__name__}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in estimator.module.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE))
    text = json.dumps(estimator.architecture, sort_keys=True, indent=2) + "\n"
    (directory / ARCHITECTURE_FILE).write_text(text)
    return {"file": WEIGHTS_FILE, "architecture": ARCHITECTURE_FILE, "torch_version": torch.__version__}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _problem(arch: Any) -> str | None:
    """What is wrong with a description, or None when it is one Tesla could have written."""
    if not isinstance(arch, dict) or set(arch) != set(_SCHEMA):
        return "its fields are not the ones Tesla writes"
    wrong = [k for k, t in _SCHEMA.items() if not isinstance(arch[k], t) or isinstance(arch[k], bool)]
    if wrong:
        return f"field(s) {', '.join(wrong)} have the wrong type"
    hidden = arch["hidden"]
    checks = [
        (arch["version"] == ARCHITECTURE_VERSION and arch["kind"] == "mlp", "unknown version or kind"),
        (arch["task"] in TASKS, f"task must be one of {', '.join(TASKS)}"),
        (arch["activation"] in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}"),
        (len(hidden) <= MAX_HIDDEN_LAYERS and all(isinstance(w, int) and 0 < w <= MAX_UNITS for w in hidden)
         and 0 < arch["n_features"] <= MAX_UNITS and 0 < arch["n_outputs"] <= MAX_UNITS, "layer sizes out of range"),
        (0.0 <= arch["dropout"] < 1.0, "dropout must be in [0, 1)"),
        (len(arch["feature_mean"]) == len(arch["feature_scale"]) == arch["n_features"]
         and all(_number(v) for v in arch["feature_mean"]) and all(_number(v) and v > 0 for v in arch["feature_scale"])
         and arch["target_scale"] > 0, "standardisation stats do not match n_features or are not numbers"),
    ]
    return next((why for ok, why in checks if not ok), None)


def _read_architecture(path: Path) -> dict[str, Any]:
    try:
        arch = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"refusing to load '{path.name}': not a JSON architecture description ({exc})",
                          key=path.name) from exc
    problem = _problem(arch)
    if problem:
        raise BundleError(f"refusing to load '{path.name}': {problem}; only bundles written by Tesla's PyTorch "
                          "learner load", key=path.name)
    return arch


def load(directory: Path, facts: Mapping[str, Any]) -> TorchTabularModel:
    """Rebuild the module from ``architecture.json`` and fill it from ``model.safetensors``."""
    arch = _read_architecture(bundle_file(directory, facts, "architecture", ARCHITECTURE_FILE))
    path = bundle_file(directory, facts, "file", WEIGHTS_FILE)
    module = build_module(arch)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"refusing to load '{path.name}': not a safetensors file ({str(exc).splitlines()[0]}); "
                          "PyTorch weights must be written by Tesla, never pickled", key=path.name) from exc
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"refusing to load '{path.name}': its tensors do not match {ARCHITECTURE_FILE} "
                          f"({' '.join(str(exc).split())[:200]})", key=path.name) from exc
    return TorchTabularModel(arch, module)
