"""Cheaper searches: search skipping and the Polyak first trial (options of ``scale_by_sls``).

Neither is part of the paper's methods; both are off by default.

* **Search skipping** (``skip_searches=S``), after SaLSA's speed-up (Kenneweg et al., "Improving
  Line Search Methods for Large Scale Neural Network Training", ACDSA 2024): while the last
  search accepted its first trial, up to ``S`` following steps take the grown step size with
  no trial at all; a step searches again after ``S`` such steps, when the last search
  backtracked, or (``skip_on_rise``) when the minibatch loss is above the loss of the last
  searched step. With ``search_steps=N`` no step from step ``N`` on searches: the step size
  is then the last one found, times ``step_size_decay(k - N)`` (an optax schedule), which is
  "line search first, then Adam with the learning rate set from the found step sizes and a
  decay" as a special case of the same mechanism.
* **Polyak first trial** (``polyak=c_p``), after PoNoS (Galli, Rauhut, Schmidt, "Don't be so
  Monotone: Relaxing Stochastic Line Search in Over-Parameterized Models", NeurIPS 2023): the
  first trial is the stochastic Polyak step size
  :math:`\\tilde\\eta_k = \\min(\\eta_{\\max}, (f_k(w) - f^*) / (c_p P_k))` (:math:`f^* = 0`,
  :math:`P_k` the (preconditioned) squared gradient norm of the Armijo condition), reduced by
  the remembered number of backtracks: :math:`\\eta_k^0 = \\beta_b^{l_k} \\tilde\\eta_k` with
  :math:`l_{k+1} = \\max(l_k + b_k - 1, 0)`, :math:`b_k` the backtracks of step :math:`k`
  (the memory-based resetting of PoNoS, read as: start where the last search ended, one
  factor higher).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class SkipState(NamedTuple):
    """State of search skipping (scalars)."""

    since: jax.Array  # int32 (): steps taken without a search since the last search
    easy: jax.Array  # bool (): the last search accepted its first trial
    ref_value: jax.Array  # (): the minibatch loss at the last searched step (+inf before any)
    last_step_sizes: jax.Array  # (L,): step sizes after the last searched step (search_steps)


def init_skip(dtype: Any, step_size: float, num_labels: int) -> SkipState:
    return SkipState(
        jnp.zeros([], jnp.int32),
        jnp.zeros([], bool),
        jnp.full([], jnp.inf, dtype),
        jnp.full([num_labels], step_size, dtype),
    )


def skip_decision(
    state: SkipState,
    value: jax.Array,
    count: jax.Array,
    *,
    max_skips: int,
    on_rise: bool,
    search_steps: int | None,
) -> jax.Array:
    """Whether this step searches (bool scalar); see the module docstring."""
    run = ~state.easy | (state.since >= max_skips)
    if on_rise:
        run = run | (value > state.ref_value)
    if search_steps is not None:
        run = count < search_steps
    return run


def skip_update(
    state: SkipState,
    searched: jax.Array,
    accepted: jax.Array,
    num_evaluations: jax.Array,
    value: jax.Array,
    step_sizes: jax.Array,
) -> SkipState:
    """The skipping state after a step (``searched``: a trial was made)."""
    return SkipState(
        since=jnp.where(searched, 0, state.since + 1).astype(jnp.int32),
        easy=jnp.where(searched, accepted & (num_evaluations == 1), state.easy),
        ref_value=jnp.where(searched, value, state.ref_value).astype(state.ref_value.dtype),
        last_step_sizes=jnp.where(searched, step_sizes, state.last_step_sizes).astype(
            state.last_step_sizes.dtype
        ),
    )


def polyak_step_size(
    value: jax.Array, pnorm: jax.Array, c_p: float, max_step_size: float
) -> jax.Array:
    """:math:`\\min(\\eta_{\\max}, f_k(w) / (c_p P_k))` (PoNoS, :math:`f^* = 0`), in value's dtype.

    A non-positive or non-finite ratio (zero slope, negative loss) gives :math:`\\eta_{\\max}`.
    """
    ratio = value / (c_p * pnorm)
    ok = jnp.isfinite(ratio) & (ratio > 0)
    return jnp.where(ok, jnp.minimum(ratio, max_step_size), max_step_size).astype(value.dtype)
