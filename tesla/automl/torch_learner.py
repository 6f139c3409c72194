"""FLAML learner ``torch_mlp``: a tabular MLP written in PyTorch.

Numerics are standardised inside the model (stats saved in ``architecture.json``);
categoricals arrive one-hot encoded by Tesla's shared Preprocessor. Training holds out
a seeded validation split of the rows it is given and stops early on its loss, keeping
the best epoch's weights. Runs on CUDA when ``torch.cuda.is_available()``; on CPU it is
seeded and deterministic, so the same data and config give the same model.

Imported only by the search (``tesla.automl.adapter``): importing it imports torch and flaml.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from flaml.automl.model import SKLearnEstimator
from torch import nn

from tesla.automl import _neural
from tesla.automl._neural import MLPParams
from tesla.models.torch_format import ARCHITECTURE_VERSION, TorchTabularModel, build_module

__all__ = ["TorchMLPEstimator", "fit_torch_mlp"]


@contextmanager
def _threads(n_jobs: int | None) -> Iterator[None]:
    """Use ``n_jobs`` intra-op threads for one fit, then restore the process setting."""
    previous = torch.get_num_threads()
    if n_jobs is not None and n_jobs > 0:
        torch.set_num_threads(n_jobs)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _architecture(x: np.ndarray, y: np.ndarray, n_outputs: int, classification: bool,
                  params: MLPParams) -> dict[str, Any]:
    mean, scale = _neural.standardization(x)
    target_mean, target_scale = (0.0, 1.0)
    if not classification:
        t_mean, t_scale = _neural.standardization(y[:, None])
        target_mean, target_scale = float(t_mean[0]), float(t_scale[0])
    return {"version": ARCHITECTURE_VERSION, "kind": "mlp",
            "task": "classification" if classification else "regression", "n_features": int(x.shape[1]),
            "hidden": [params.width] * params.depth, "activation": "relu", "dropout": params.dropout,
            "n_outputs": n_outputs, "feature_mean": mean.tolist(), "feature_scale": scale.tolist(),
            "target_mean": target_mean, "target_scale": target_scale}


class _Trainer:
    """One fit: tensors on the device, the loss, and the early-stopping loop."""

    def __init__(self, module: nn.Module, arch: dict[str, Any], params: MLPParams, device: torch.device) -> None:
        self.module, self.params, self.device = module.to(device), params, device
        self.classification = arch["task"] == "classification"
        self.mean = torch.tensor(arch["feature_mean"], device=device)
        self.scale = torch.tensor(arch["feature_scale"], device=device)
        self.target = (arch["target_mean"], arch["target_scale"])
        self.optimizer = torch.optim.Adam(module.parameters(), lr=params.learning_rate)
        self.generator = torch.Generator().manual_seed(params.seed)

    def tensors(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[torch.Tensor, ...]:
        xt = (torch.from_numpy(x).to(self.device) - self.mean) / self.scale
        if self.classification:
            return xt, torch.from_numpy(y).to(self.device), torch.from_numpy(w).to(self.device)
        yt = (torch.from_numpy(y).to(self.device) - self.target[0]) / self.target[1]
        return xt, yt, torch.from_numpy(w).to(self.device)

    def loss(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        if self.classification:
            each = nn.functional.cross_entropy(out, y, reduction="none")
        else:
            each = (out[:, 0] - y) ** 2
        return (each * w).sum() / w.sum().clamp_min(1e-12)

    def epoch(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> None:
        self.module.train()
        order = torch.randperm(len(x), generator=self.generator).to(self.device)
        for start in range(0, len(x), self.params.batch_size):
            batch = order[start:start + self.params.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(x[batch], y[batch], w[batch]).backward()
            self.optimizer.step()

    def validation_loss(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> float:
        self.module.eval()
        with torch.no_grad():
            return float(self.loss(x, y, w))

    def fit(self, train: tuple[torch.Tensor, ...], valid: tuple[torch.Tensor, ...], deadline: float | None) -> None:
        best, best_state, stale = float("inf"), None, 0
        for _ in range(self.params.epochs):
            self.epoch(*train)
            if deadline is not None and time.monotonic() > deadline:
                break  # FLAML's time budget for this trial is spent
            if len(valid[0]) == 0:
                continue
            current = self.validation_loss(*valid)
            if current < best - 1e-7:
                best, stale = current, 0
                best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
            else:
                stale += 1
                if stale >= _neural.PATIENCE:
                    break
        if best_state is not None:
            self.module.load_state_dict(best_state)


def fit_torch_mlp(X: Any, y: Any, *, classification: bool, params: MLPParams, sample_weight: Any = None,
                  budget_s: float | None = None, n_jobs: int | None = 1) -> TorchTabularModel:
    """Train an MLP on all-numeric ``X``; ``y`` holds class codes 0..k-1 or values.

    Args:
        X: the Preprocessor's all-numeric frame (or an array).
        y: class codes 0..k-1 (classification) or target values (regression).
        classification: whether to fit a softmax classifier instead of a regressor.
        params: the trial's hyperparameters.
        sample_weight: optional per-row weights.
        budget_s: stop after the epoch that crosses this many seconds (None: no limit).
        n_jobs: CPU threads for this fit (None or < 1: torch's default, one per core). One is the
            default: these networks are too small to gain from threads, and on a busy machine
            torch's spinning worker threads make a fit ~10x slower.

    Returns:
        The fitted model, on CPU, ready to save with ``tesla.models.torch_format``.
    """
    deadline = None if budget_s is None else time.monotonic() + budget_s
    x, target, n_outputs = _neural.prepare(X, y, classification)
    weights = _neural.sample_weights(sample_weight, len(x))
    arch = _architecture(x, target, n_outputs, classification, params)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_rows, valid_rows = _neural.validation_split(len(x), params.seed)
    devices = [torch.cuda.current_device()] if device.type == "cuda" else []
    # fork_rng: seed this fit without moving the process-wide torch RNG others rely on
    with _threads(n_jobs), torch.random.fork_rng(devices=devices):
        torch.manual_seed(params.seed)
        trainer = _Trainer(build_module(arch), arch, params, device)
        trainer.fit(trainer.tensors(x[train_rows], target[train_rows], weights[train_rows]),
                    trainer.tensors(x[valid_rows], target[valid_rows], weights[valid_rows]), deadline)
    return TorchTabularModel(arch, trainer.module)


class TorchMLPEstimator(SKLearnEstimator):
    """FLAML learner ``torch_mlp``; ``automl.model.estimator`` is a ``TorchTabularModel``."""

    @classmethod
    def search_space(cls, data_size: tuple[int, int], task: Any, **params: Any) -> dict[str, dict[str, Any]]:
        return _neural.search_space(data_size)

    @classmethod
    def cost_relative2lgbm(cls) -> float:
        return 5.0  # an MLP trial costs several boosted-tree trials on the same rows

    def fit(self, X_train: Any, y_train: Any, budget: float | None = None, free_mem_ratio: float = 0,
            **kwargs: Any) -> float:
        """Fit on FLAML's rows; only ``sample_weight`` of FLAML's fit kwargs applies to an MLP."""
        started = time.time()
        self._model = fit_torch_mlp(X_train, y_train, classification=self._task.is_classification(),
                                    params=MLPParams.from_config(self.params),
                                    sample_weight=kwargs.get("sample_weight"), budget_s=budget,
                                    n_jobs=self.params.get("n_jobs", 1))
        return time.time() - started
