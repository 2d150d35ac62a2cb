"""The backtracking kernel shared by every line search in sls_jax.

One ``lax.while_loop`` whose carry holds scalars only: the trial step size, a counter, a flag and
the last observed decrease. The trial point is rebuilt inside the loop body from loop-invariant
trees (the parameters and the search direction), so no parameter-sized array is carried.
Each iteration costs exactly one call of ``value_fn``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["LineSearchInfo", "SearchStatus"]


class SearchStatus:
    """Codes of ``LineSearchInfo.status`` (int32).

    ACCEPTED: a trial step size satisfied the sufficient-decrease (Armijo) condition.
    FAILED: ``max_trials`` trials failed; the step was taken with the last reduced step size
      (``eta * backtrack_factor**max_trials``), as the reference code does.
    SKIPPED: no search because the preconditioned gradient norm was below 1e-8 or the loss was
      exactly 0; the step was taken with the grown step size.
    NONFINITE: the loss or the gradient at the current point was NaN or inf; no step was taken
      and the optimizer state (moments, step sizes, counters) was kept.
    SPEED_UP: SaLSA only: the speed-up rule skipped the search; the step used the grown step size.
    """

    ACCEPTED = 0
    FAILED = 1
    SKIPPED = 2
    NONFINITE = 3
    SPEED_UP = 4


class LineSearchInfo(NamedTuple):
    """Diagnostics of the last ``update`` call.

    Scalars are float32 (float64 under ``jax_enable_x64``) unless noted. ``decrease`` is always
    the raw observed decrease; the smoothed conditions (``smooth=True``, SaLSA) compare running
    averages instead, so there ``decrease < sufficient_decrease`` can hold at an accepted trial.
    """

    num_evaluations: jax.Array  # int32 (): value_fn calls made by the last update
    num_backtracks: jax.Array  # int32 (): step-size reductions in the last update
    status: jax.Array  # int32 (): a SearchStatus code
    searched_group: jax.Array  # int32 (): group searched; -1 when all groups moved together
    decrease: jax.Array  # (): f(w) - f(w') at the last trial; NaN when no trial was made
    sufficient_decrease: jax.Array  # (): Armijo right-hand side c * eta * P at the last trial


def empty_info(dtype: Any) -> LineSearchInfo:
    zero_i = jnp.zeros([], jnp.int32)
    nan = jnp.full([], jnp.nan, dtype)
    return LineSearchInfo(zero_i, zero_i, zero_i, jnp.full([], -1, jnp.int32), nan, nan)


def scalar_dtype() -> jnp.dtype:
    """float32, or float64 when ``jax_enable_x64`` is on: the dtype of step sizes and losses."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


class BacktrackResult(NamedTuple):
    step_size: jax.Array  # (): accepted step size, or the reduced one after a failed search
    accepted: jax.Array  # bool ()
    num_evaluations: jax.Array  # int32 ()
    decrease: jax.Array  # (): f(w) - f(w') at the last trial (NaN if none)
    last_trial_step_size: jax.Array  # (): step size of the last trial


def backtrack(
    trial_value: Callable[[jax.Array], jax.Array],
    value: jax.Array,
    step_size: jax.Array,
    accept: Callable[[jax.Array, jax.Array], jax.Array],
    *,
    search: jax.Array,
    backtrack_factor: float,
    max_trials: int,
) -> BacktrackResult:
    """Backtracks ``step_size`` until ``accept(decrease, step_size)`` holds.

    Args:
      trial_value: ``eta -> f(w + eta * d)``, one forward pass.
      value: ``f(w)``, scalar in the step-size dtype.
      step_size: first step size tried, scalar.
      accept: ``(decrease, eta) -> bool``, e.g. the Armijo condition ``decrease >= c * eta * P``.
        A non-finite trial value is never accepted.
      search: bool scalar; when False no trial is made.
      backtrack_factor: step size multiplier after a rejected trial, in (0, 1).
      max_trials: maximum number of trials (value_fn calls).

    Returns:
      A :class:`BacktrackResult`.
    """
    dtype = step_size.dtype

    def cond_fn(carry):
        trials, _, accepted, _, _ = carry
        return search & ~accepted & (trials < max_trials)

    def body_fn(carry):
        trials, eta, _, _, _ = carry
        new_value = as_scalar(trial_value(eta), dtype, "value_fn(params)")
        decrease = value - new_value
        ok = jnp.isfinite(new_value) & accept(decrease, eta)
        next_eta = jnp.where(ok, eta, eta * backtrack_factor).astype(dtype)
        return trials + 1, next_eta, ok, decrease, eta

    init = (
        jnp.zeros([], jnp.int32),
        step_size,
        jnp.zeros([], bool),
        jnp.full([], jnp.nan, dtype),
        step_size,
    )
    trials, eta, accepted, decrease, last_eta = jax.lax.while_loop(cond_fn, body_fn, init)
    return BacktrackResult(eta, accepted, trials, decrease, last_eta)


def as_scalar(x: Any, dtype: Any, what: str) -> jax.Array:
    """``x`` as a scalar of ``dtype``; TypeError naming ``what`` if it is not a single number."""
    x = jnp.asarray(x)
    if x.size != 1:
        raise TypeError(
            f"{what} must be a scalar loss, got shape {x.shape}; a line search needs value_fn "
            "to return one number (use a wrapper that drops auxiliary outputs)."
        )
    return x.reshape(()).astype(dtype)


def moment_dtype(param_dtype: Any) -> jnp.dtype:
    """Dtype of optimizer moments for a parameter dtype: at least float32.

    float16 cannot hold ``(1 - b2) g**2`` for small gradients nor ``eps = 1e-8``, so moments and
    preconditioners of low-precision parameters are kept in float32 (the usual mixed-precision
    practice); float64 parameters keep float64.
    """
    return jnp.promote_types(param_dtype, jnp.float32)


def zeros_moments(params: Any) -> Any:
    """Strongly typed zero moments with the structure of ``params`` (see :func:`moment_dtype`)."""
    return jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), moment_dtype(jnp.result_type(p))), params)


def round_to(x: jax.Array, dtype: Any) -> jax.Array:
    """``x`` cast to ``dtype``, with the rounding kept even where XLA would skip a round trip.

    XLA may drop a float32 -> bfloat16 -> float32 round trip (excess precision), so a trial point
    would be evaluated at a position the parameters can never take; ``reduce_precision`` pins it.
    """
    y = x.astype(dtype)
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
        info = jnp.finfo(dtype)
        y = jax.lax.reduce_precision(y, exponent_bits=info.nexp, mantissa_bits=info.nmant)
    return y


def reject_masked_params(name: str, params: Any) -> None:
    """ValueError when ``params`` holds ``optax.MaskedNode`` (inside partition/masked)."""
    import optax

    masked = lambda x: isinstance(x, optax.MaskedNode)
    if any(masked(leaf) for leaf in jax.tree.leaves(params, is_leaf=masked)):
        raise ValueError(
            f"{name} received params with masked parts (optax.MaskedNode): it is running inside "
            "optax.partition, optax.multi_transform or optax.masked, which hide the other "
            "parameters, so value_fn cannot be evaluated on the full model. For one step size "
            "per parameter group use sls_jax.pla_sls(param_labels) or "
            "sls_jax.scale_by_sls(param_labels=...) on the whole tree instead."
        )


def search_status(search: jax.Array, accepted: jax.Array, finite: jax.Array) -> jax.Array:
    """SearchStatus code (int32) from the flags of one update."""
    status = jnp.where(
        search,
        jnp.where(accepted, SearchStatus.ACCEPTED, SearchStatus.FAILED),
        SearchStatus.SKIPPED,
    )
    return jnp.where(finite, status, SearchStatus.NONFINITE).astype(jnp.int32)


def num_backtracks(result: BacktrackResult) -> jax.Array:
    return (result.num_evaluations - result.accepted.astype(jnp.int32)).astype(jnp.int32)


def all_finite(value: jax.Array, tree: Any) -> jax.Array:
    """True when ``value`` and every leaf of ``tree`` are finite (bool scalar)."""
    ok = jnp.all(jnp.isfinite(value))
    for leaf in jax.tree.leaves(tree):
        ok = ok & jnp.all(jnp.isfinite(leaf))
    return ok


def require_value_fn(name: str, value: Any, value_fn: Any, params: Any) -> None:
    """Raises TypeError in plain words when the line-search arguments are missing."""
    missing = [
        n for n, v in (("value", value), ("value_fn", value_fn), ("params", params)) if v is None
    ]
    if missing:
        raise TypeError(
            f"{name}.update needs {', '.join(f'`{m}`' for m in missing)}: a line search evaluates "
            "the loss at trial points, so call it as "
            "update(grads, state, params, value=loss, value_fn=loss_fn, **extra_args), "
            "where loss, grads = jax.value_and_grad(loss_fn)(params, **extra_args)."
        )


def check_call(
    name: str, value: Any, value_fn: Any, params: Any, extra_args: dict[str, Any]
) -> dict[str, Any]:
    """Checks the arguments of a line search's ``update``; returns ``value_fn``'s kwargs.

    Raises:
      TypeError: ``value``, ``value_fn`` or ``params`` missing, or ``value_fn`` lacking a
        required argument (see :func:`value_fn_kwargs`).
      ValueError: masked params (inside ``optax.partition``; see :func:`reject_masked_params`).
    """
    require_value_fn(name, value, value_fn, params)
    reject_masked_params(name, params)
    return value_fn_kwargs(value_fn, extra_args)


def value_fn_kwargs(value_fn: Callable[..., Any], extra_args: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``update`` that ``value_fn`` takes, checked before tracing.

    Every trial evaluates ``value_fn(trial_params, **kwargs)`` with the very same arguments
    (batch, dropout key, ...) that were given to ``update``. Arguments ``value_fn`` does not take
    are left out (other transformations of an ``optax.chain`` may use them).

    Raises:
      TypeError: ``value_fn`` has a required argument that ``update`` did not receive; the
        message names it.
    """
    try:
        signature = inspect.signature(value_fn)
    except (TypeError, ValueError):  # builtins and some C callables
        return dict(extra_args)
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs = dict(extra_args)
    else:
        kwargs = {
            k: v
            for k, v in extra_args.items()
            if k in parameters and parameters[k].kind is not inspect.Parameter.POSITIONAL_ONLY
        }
    try:
        signature.bind(None, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"value_fn cannot be called as value_fn(params, **extra_args) with the keyword "
            f"arguments given to update() ({sorted(extra_args)}): {error}. Pass what value_fn "
            "needs (e.g. batch=batch) to update() as keyword arguments; every trial of the line "
            "search evaluates value_fn on exactly those arguments."
        ) from None
    return kwargs
