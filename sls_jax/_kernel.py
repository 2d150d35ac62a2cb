"""The backtracking kernel: the one ``lax.while_loop`` of every sls_jax line search.

The loop carries scalars only (the next trial step size, counters, a flag, the last decrease).
Each round rebuilds its trial point(s) from loop-invariant trees (the parameters and the search
direction), so no parameter-sized array is carried.

Sequential (``ladder=1``, the paper's search): each round makes one trial,
:math:`\\eta \\leftarrow \\beta \\eta` after a rejection, until a trial is accepted or
``max_trials`` trials were made.

Batched ladder (``ladder=K > 1``): each round evaluates the K step sizes
:math:`\\eta, \\beta\\eta, \\dots, \\beta^{K-1}\\eta` (built by the same repeated
multiplication as the sequential search, so bit for bit the same numbers) with one ``vmap``-ped
``value_fn`` call, and accepts the largest that passes the rule. The sequential search would
have tried them in this order and stopped at that one, so both accept the same step size after
the same number of trials; the ladder needs ``ceil(trials / K)`` rounds (value_fn calls), each
with K forwards' activations and K trial points in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from sls_jax._base import as_scalar

#: ``(decrease, eta) -> bool``: the acceptance rule of one trial (see ``_conditions``).
Accept = Callable[[jax.Array, jax.Array], jax.Array]


class BacktrackResult(NamedTuple):
    step_size: jax.Array  # (): accepted step size, or the reduced one after a failed search
    accepted: jax.Array  # bool ()
    num_evaluations: jax.Array  # int32 (): trials up to and including the accepted one
    decrease: jax.Array  # (): f(w) - f(w') at the last counted trial (NaN if none)
    last_trial_step_size: jax.Array  # (): step size of the last counted trial
    num_rounds: jax.Array  # int32 (): value_fn calls (= num_evaluations when ladder = 1)

    @property
    def num_backtracks(self) -> jax.Array:
        return (self.num_evaluations - self.accepted.astype(jnp.int32)).astype(jnp.int32)


def backtrack(
    trial_value: Callable[[jax.Array], jax.Array],
    value: jax.Array,
    step_size: jax.Array,
    accept: Accept,
    *,
    search: jax.Array,
    backtrack_factor: jax.Array | float,
    max_trials: int,
    ladder: int = 1,
) -> BacktrackResult:
    """Backtracks ``step_size`` until ``accept(decrease, step_size)`` holds.

    Args:
      trial_value: ``eta -> f(w + eta d)``, one forward pass; must be ``vmap``-able when
        ``ladder > 1``.
      value: ``f(w)``, scalar in the step-size dtype.
      step_size: first step size tried, scalar.
      accept: ``(decrease, eta) -> bool``, e.g. the Armijo condition ``decrease >= c eta P``.
        A non-finite trial value is never accepted.
      search: bool scalar; when False no trial is made.
      backtrack_factor: step size multiplier after a rejected trial, in (0, 1).
      max_trials: maximum number of trials.
      ladder: K, the trials per round (one batched value_fn call each).

    Returns:
      A :class:`BacktrackResult`.
    """
    dtype = step_size.dtype
    nan = jnp.full([], jnp.nan, dtype)
    zero = jnp.zeros([], jnp.int32)

    def cond_fn(carry):
        trials, _, accepted, _, _, _ = carry
        return search & ~accepted & (trials < max_trials)

    if ladder == 1:

        def body_fn(carry):
            trials, eta, _, _, _, rounds = carry
            new_value = as_scalar(trial_value(eta), dtype, "value_fn(params)")
            decrease = value - new_value
            ok = jnp.isfinite(new_value) & accept(decrease, eta)
            next_eta = jnp.where(ok, eta, eta * backtrack_factor).astype(dtype)
            return trials + 1, next_eta, ok, decrease, eta, rounds + 1

    else:
        factor = jnp.asarray(backtrack_factor, dtype)

        def body_fn(carry):
            trials, eta, _, _, _, rounds = carry
            etas = [eta]
            for _ in range(ladder - 1):
                etas.append((etas[-1] * factor).astype(dtype))
            etas = jnp.stack(etas)
            values = jax.vmap(lambda e: as_scalar(trial_value(e), dtype, "value_fn(params)"))(etas)
            decreases = value - values
            valid = trials + jnp.arange(ladder, dtype=jnp.int32) < max_trials
            ok = valid & jnp.isfinite(values) & jax.vmap(accept)(decreases, etas)
            any_ok = jnp.any(ok)
            first_ok = jnp.argmax(ok).astype(jnp.int32)
            last_valid = (jnp.minimum(ladder, max_trials - trials) - 1).astype(jnp.int32)
            j = jnp.where(any_ok, first_ok, last_valid)
            next_eta = jnp.where(any_ok, etas[j], etas[j] * factor).astype(dtype)
            return trials + j + 1, next_eta, any_ok, decreases[j], etas[j], rounds + 1

    init = (zero, step_size, jnp.zeros([], bool), nan, step_size, zero)
    trials, eta, accepted, decrease, last_eta, rounds = jax.lax.while_loop(cond_fn, body_fn, init)
    return BacktrackResult(eta, accepted, trials, decrease, last_eta, rounds)
