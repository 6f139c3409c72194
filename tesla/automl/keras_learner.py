"""FLAML learner ``keras_mlp``: a tabular MLP written with Keras on TensorFlow.

The network is Input -> Normalization (standardisation stats as layer constants) ->
[Dense relu, Dropout] x depth -> Dense softmax (classification) or Dense -> Rescaling back
to target units (regression): Keras' own layers only, so the ``.keras`` archive loads
with ``safe_mode=True``. Categoricals arrive one-hot encoded by Tesla's shared
Preprocessor. Training holds out a seeded validation split, stops early on its loss and
keeps the best epoch's weights. Keras places work on a GPU when TensorFlow sees one.

Each epoch runs as one ``tf.function`` (one trace per fit) instead of ``Model.fit``: on
tabular data of a few hundred rows ``fit``'s per-epoch overhead costs ~5x the training.

Imported only by the search (``tesla.automl.adapter``): importing it imports TensorFlow and flaml.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from flaml.automl.model import SKLearnEstimator

from tesla.automl import _neural
from tesla.automl._neural import MLPParams
from tesla.errors import DependencyError
# keras and tf come from keras_format, which sets TensorFlow's environment before importing it
from tesla.models.keras_format import KerasTabularModel, keras, tf

__all__ = ["KerasMLPEstimator", "fit_keras_mlp"]


@functools.cache
def _deterministic_ops() -> None:
    """Once per process: TF picks deterministic kernels, so a seed fixes the result."""
    tf.config.experimental.enable_op_determinism()


@functools.cache
def _threads(n_jobs: int | None) -> None:
    """Once per process: TensorFlow's CPU thread pools to ``n_jobs`` threads (None or < 1: TF's default, one
    per core), as the torch learner and FLAML's tree learners use ``search.n_jobs``. TF fixes its pools when it
    first runs an op, so the first fit's value holds for the process, and a process that ran TF before
    keeps what it had."""
    if n_jobs is None or n_jobs < 1:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_jobs)
        tf.config.threading.set_inter_op_parallelism_threads(n_jobs)
    except RuntimeError:  # TensorFlow is already initialised in this process
        pass


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed Keras/TF for one fit; Python's and numpy's global generators are put back after."""
    _deterministic_ops()
    py_state, np_state = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _build(x: np.ndarray, y: np.ndarray, n_outputs: int, classification: bool, params: MLPParams) -> keras.Model:
    mean, scale = _neural.standardization(x)
    # fixed layer names: the archive must not depend on how many models this process built
    standardize = keras.layers.Normalization(mean=mean.tolist(), variance=(scale ** 2).tolist(), name="standardize")
    layers: list[Any] = [keras.Input((x.shape[1],), name="features"), standardize]
    for i in range(params.depth):
        layers += [keras.layers.Dense(params.width, activation="relu", name=f"dense_{i}"),
                   keras.layers.Dropout(params.dropout, name=f"dropout_{i}")]
    if classification:
        layers.append(keras.layers.Dense(n_outputs, activation="softmax", name="probabilities"))
    else:
        t_mean, t_scale = _neural.standardization(y[:, None])
        layers += [keras.layers.Dense(1, name="standardized_value"),
                   keras.layers.Rescaling(scale=float(t_scale[0]), offset=float(t_mean[0]), name="value")]
    return keras.Sequential(layers, name="tesla_mlp")


def _loss_fn(model: keras.Model, classification: bool) -> Callable[..., Any]:
    """Weighted mean loss; regression in standardised target units so the LR means the same for any scale."""
    xent = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    scale = 1.0 if classification else float(model.get_layer("value").scale)  # the offset cancels in pred - y

    def loss(y: Any, pred: Any, w: Any) -> Any:
        each = xent(y, pred) if classification else tf.square((pred[:, 0] - y) / scale)
        return tf.reduce_sum(each * w) / tf.maximum(tf.reduce_sum(w), 1e-12)

    return loss


def _epoch_fn(model: keras.Model, loss: Callable[..., Any], params: MLPParams) -> Callable[..., Any]:
    optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate)
    optimizer.build(model.trainable_variables)  # variables made outside: tf.function then traces once, not twice
    batch = params.batch_size

    @tf.function(reduce_retracing=True)
    def epoch(x: Any, y: Any, w: Any) -> None:
        n_batches = (tf.shape(x)[0] + batch - 1) // batch
        for b in tf.range(n_batches):
            xb, yb, wb = x[b * batch:(b + 1) * batch], y[b * batch:(b + 1) * batch], w[b * batch:(b + 1) * batch]
            with tf.GradientTape() as tape:
                value = loss(yb, model(xb, training=True), wb)
            grads = tape.gradient(value, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

    return epoch


def _train(model: keras.Model, classification: bool, params: MLPParams, train: tuple[np.ndarray, ...],
           valid: tuple[np.ndarray, ...], deadline: float | None) -> None:
    loss = _loss_fn(model, classification)
    epoch = _epoch_fn(model, loss, params)
    rng = np.random.default_rng(params.seed)
    best, best_weights, stale = float("inf"), None, 0
    for _ in range(params.epochs):
        order = rng.permutation(len(train[0]))
        epoch(*(tf.constant(a[order]) for a in train))
        if deadline is not None and time.monotonic() > deadline:
            break  # FLAML's time budget for this trial is spent
        if len(valid[0]) == 0:
            continue
        current = float(loss(tf.constant(valid[1]), model(valid[0], training=False), tf.constant(valid[2])))
        if current < best - 1e-7:
            best, best_weights, stale = current, model.get_weights(), 0
        else:
            stale += 1
            if stale >= _neural.PATIENCE:
                break
    if best_weights is not None:
        model.set_weights(best_weights)


def fit_keras_mlp(X: Any, y: Any, *, classification: bool, params: MLPParams, sample_weight: Any = None,
                  budget_s: float | None = None, n_jobs: int | None = 1) -> KerasTabularModel:
    """Train a Keras MLP on all-numeric ``X``; ``y`` holds class codes 0..k-1 or values.

    Args:
        X: the Preprocessor's all-numeric frame (or an array).
        y: class codes 0..k-1 (classification) or target values (regression).
        classification: whether to fit a softmax classifier instead of a regressor.
        params: the trial's hyperparameters.
        sample_weight: optional per-row weights.
        budget_s: stop after the epoch that crosses this many seconds (None: no limit).
        n_jobs: TensorFlow's CPU threads (``_threads``: set once per process).

    Returns:
        The fitted model, ready to save with ``tesla.models.keras_format``.

    Raises:
        DependencyError: Keras runs on another backend than TensorFlow.
    """
    if keras.backend.backend() != "tensorflow":  # the training loop below is TensorFlow code
        raise DependencyError(f"keras_mlp trains with Keras' tensorflow backend, but KERAS_BACKEND is "
                              f"'{keras.backend.backend()}'; unset it or set KERAS_BACKEND=tensorflow")
    _threads(n_jobs)
    deadline = None if budget_s is None else time.monotonic() + budget_s
    x, target, n_outputs = _neural.prepare(X, y, classification)
    weights = _neural.sample_weights(sample_weight, len(x))
    train_rows, valid_rows = _neural.validation_split(len(x), params.seed)
    with _seeded(params.seed):
        model = _build(x, target, n_outputs, classification, params)
        _train(model, classification, params, (x[train_rows], target[train_rows], weights[train_rows]),
               (x[valid_rows], target[valid_rows], weights[valid_rows]), deadline)
    return KerasTabularModel(model, "classification" if classification else "regression")


class KerasMLPEstimator(SKLearnEstimator):
    """FLAML learner ``keras_mlp``; ``automl.model.estimator`` is a ``KerasTabularModel``."""

    @classmethod
    def search_space(cls, data_size: tuple[int, int], task: Any, **params: Any) -> dict[str, dict[str, Any]]:
        return _neural.search_space(data_size)

    @classmethod
    def cost_relative2lgbm(cls) -> float:
        return 8.0  # an MLP trial (plus one tf.function trace) costs several boosted-tree trials

    def fit(self, X_train: Any, y_train: Any, budget: float | None = None, free_mem_ratio: float = 0,
            **kwargs: Any) -> float:
        """Fit on FLAML's rows; only ``sample_weight`` of FLAML's fit kwargs applies to an MLP."""
        started = time.time()
        self._model = fit_keras_mlp(X_train, y_train, classification=self._task.is_classification(),
                                    params=MLPParams.from_config(self.params),
                                    sample_weight=kwargs.get("sample_weight"), budget_s=budget,
                                    n_jobs=self.params.get("n_jobs", 1))
        return time.time() - started
