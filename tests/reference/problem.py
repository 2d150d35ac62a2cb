"""Small deterministic classification problem shared by the PyTorch and JAX sides.

Everything here is pure numpy (float64) so that the PyTorch reference script
(``make_torch_trajectories.py``, run in a separate environment with
``salsa-optimizer``) and the JAX agreement test build bit-identical initial
weights and minibatches.

Problem
-------
* ``X``: shape ``(256, 10)``, standard normal.
* ``y``: labels in ``{0, 1, 2}``, ``argmax(X @ T + noise)`` for a fixed random
  "teacher" ``T`` (10, 3) and Gaussian label noise, so the problem is learnable
  but not perfectly separable.
* Initial MLP weights ``w1`` (10, 16), ``b1`` (16,), ``w2`` (16, 3), ``b2`` (3,),
  each uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.

Objective (re-implement this in ``jax.numpy`` on the JAX side)
--------------------------------------------------------------
With ``h = tanh(X @ w1 + b1)`` and ``logits = h @ w2 + b2`` the loss is the mean
softmax cross-entropy over the batch::

    loss = mean_i( logsumexp(logits_i) - logits_i[y_i] )

computed in float64. The flattened parameter vector is always the
concatenation of ``w1.ravel(), b1, w2.ravel(), b2`` (C order), in that order.

Minibatches
-----------
Step ``k`` (0-based) uses ``X[batch_indices(k)]``; epochs have
``n // batch_size`` steps and each epoch is a fresh permutation drawn from
``np.random.default_rng([seed, epoch])``.
"""

from __future__ import annotations

import numpy as np

N_SAMPLES = 256
N_FEATURES = 10
N_HIDDEN = 16
N_CLASSES = 3
BATCH_SIZE = 16
PARAM_NAMES = ("w1", "b1", "w2", "b2")


def make_problem(seed: int = 0) -> dict:
    """Return ``{"X", "y", "w1", "b1", "w2", "b2"}`` as float64 (``y`` int64) arrays."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    teacher = rng.standard_normal((N_FEATURES, N_CLASSES))
    noise = rng.standard_normal((N_SAMPLES, N_CLASSES))
    y = np.argmax(X @ teacher + noise, axis=1).astype(np.int64)

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape)

    return {
        "X": X.astype(np.float64),
        "y": y,
        "w1": uniform((N_FEATURES, N_HIDDEN), N_FEATURES),
        "b1": uniform((N_HIDDEN,), N_FEATURES),
        "w2": uniform((N_HIDDEN, N_CLASSES), N_HIDDEN),
        "b2": uniform((N_CLASSES,), N_HIDDEN),
    }


def batch_indices(
    step: int, seed: int = 0, batch_size: int = BATCH_SIZE, n: int = N_SAMPLES
) -> np.ndarray:
    """Indices of the minibatch used at 0-based step ``step``."""
    steps_per_epoch = n // batch_size
    epoch, pos = divmod(int(step), steps_per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[pos * batch_size : (pos + 1) * batch_size]


def flatten_params(params: dict) -> np.ndarray:
    """Concatenate ``w1, b1, w2, b2`` (C order) into one float64 vector."""
    return np.concatenate([np.asarray(params[k], np.float64).ravel() for k in PARAM_NAMES])


def numpy_loss(params: dict, X, y) -> float:
    """Mean softmax cross-entropy of ``tanh(X @ w1 + b1) @ w2 + b2`` (float64)."""
    X = np.asarray(X, np.float64)
    y = np.asarray(y)
    h = np.tanh(X @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))
