"""What the PyTorch and TensorFlow tabular learners share: hyperparameters, their search
space, the validation rows carved out for early stopping and the standardisation stats.

Kept light (numpy only; ``flaml.tune`` imported inside ``search_space``) so that neither
learner pulls in the other framework.

Categoricals: Tesla's shared Preprocessor has already one-hot encoded low-cardinality
categoricals (and ordinal-coded high-cardinality ones) before a learner sees the frame,
so the networks take an all-numeric matrix and only standardise it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MLPParams", "PATIENCE", "prepare", "sample_weights", "search_space", "standardization",
           "validation_split"]

EPOCHS = (5, 50)  # inclusive bounds: early stopping usually ends training sooner
WIDTH = (16, 256)
DEPTH = (1, 3)
BATCH_SIZE = (16, 256)
LEARNING_RATE = (1e-4, 3e-2)
DROPOUT = (0.0, 0.5)
PATIENCE = 5  # epochs without a better validation loss before training stops
VALID_FRACTION = 0.1
MIN_ROWS_FOR_VALID = 20  # below this every row trains and all epochs run
DEFAULT_SEED = 10242048  # FLAML's own default random_state for its learners


@dataclass(frozen=True)
class MLPParams:
    """One trial's hyperparameters, as FLAML samples them."""

    width: int = 64
    depth: int = 2
    dropout: float = 0.1
    learning_rate: float = 3e-3
    batch_size: int = 32
    epochs: int = 30
    seed: int = DEFAULT_SEED

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MLPParams:
        """Read a FLAML config; FLAML's extra keys (``n_jobs``, ...) are ignored."""
        base = cls()
        return cls(width=int(config.get("width", base.width)), depth=int(config.get("depth", base.depth)),
                   dropout=float(config.get("dropout", base.dropout)),
                   learning_rate=float(config.get("learning_rate", base.learning_rate)),
                   batch_size=int(config.get("batch_size", base.batch_size)),
                   epochs=int(config.get("epochs", base.epochs)),
                   seed=int(config.get("random_seed", base.seed)))


def search_space(data_size: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """FLAML search space over width, depth, dropout, learning rate, batch size and epochs.

    ``low_cost_init_value`` marks the cheap corner FLAML's CFO starts from; ``init_value``
    is a sensible default network.
    """
    from flaml import tune  # lazy: only a search needs it

    base = MLPParams()
    batch_hi = int(min(BATCH_SIZE[1], max(BATCH_SIZE[0], data_size[0])))
    return {
        "width": {"domain": tune.lograndint(WIDTH[0], WIDTH[1] + 1), "init_value": base.width,
                  "low_cost_init_value": WIDTH[0]},
        "depth": {"domain": tune.randint(DEPTH[0], DEPTH[1] + 1), "init_value": base.depth,
                  "low_cost_init_value": DEPTH[0]},
        "dropout": {"domain": tune.uniform(*DROPOUT), "init_value": base.dropout},
        "learning_rate": {"domain": tune.loguniform(*LEARNING_RATE), "init_value": base.learning_rate},
        "batch_size": {"domain": tune.lograndint(BATCH_SIZE[0], batch_hi + 1),
                       "init_value": min(base.batch_size, batch_hi)},
        "epochs": {"domain": tune.randint(EPOCHS[0], EPOCHS[1] + 1), "init_value": base.epochs,
                   "low_cost_init_value": EPOCHS[0]},
    }


def prepare(X: Any, y: Any, classification: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Features as float32, targets (int64 codes or float32 values) and the output width."""
    x = np.ascontiguousarray(np.asarray(X, dtype="float32"))
    if not classification:
        return x, np.asarray(y, dtype="float32").reshape(-1), 1
    codes = np.asarray(y).astype("int64").reshape(-1)
    # Tesla encodes classes 0..k-1; a cv fold may miss the last one, so take the max too
    return x, codes, int(max(2, codes.max(initial=0) + 1, len(np.unique(codes))))


def standardization(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales; a constant column gets scale 1 so it maps to 0, not inf."""
    mean = values.mean(axis=0, dtype="float64")
    std = values.std(axis=0, dtype="float64")
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    return mean.astype("float32"), std.astype("float32")


def validation_split(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation) for early stopping, seeded; no validation when tiny."""
    order = np.random.default_rng(seed).permutation(n_rows)
    if n_rows < MIN_ROWS_FOR_VALID:
        return np.sort(order), order[:0]
    n_valid = max(1, int(round(n_rows * VALID_FRACTION)))
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def sample_weights(sample_weight: Any, n_rows: int) -> np.ndarray:
    """FLAML's optional ``sample_weight`` as float32, ones when absent."""
    if sample_weight is None:
        return np.ones(n_rows, dtype="float32")
    return np.asarray(sample_weight, dtype="float32").reshape(-1)
