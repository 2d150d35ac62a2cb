"""What every sls_jax line search shares: status codes, diagnostics, dtypes and call checks.

Nothing here is specific to one algorithm. The dtype rules: step sizes, losses and the scalars of
the acceptance rules are float32, or float64 under ``jax_enable_x64``
(:func:`scalar_dtype`); moments are at least float32 (:func:`moment_dtype`); a trial point is
rounded to the parameters' dtype before ``value_fn`` sees it (:func:`round_to`).
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["LineSearchInfo", "SearchStatus"]

#: No search below this (preconditioned) squared gradient norm P (reference code, sls_base.py).
MIN_PNORM = 1e-8


class SearchStatus(enum.IntEnum):
    """Codes of ``LineSearchInfo.status`` (stored as int32; the numbers are stable).

    ACCEPTED: a trial step size satisfied the acceptance rule (the Armijo condition or its
      smoothed or nonmonotone form).
    FAILED: ``max_trials`` trials failed; the step was taken with the last reduced step size
      (``eta * backtrack_factor**max_trials``), as the reference code does.
    SKIPPED: no search because the (preconditioned) squared gradient norm was below 1e-8 or the
      loss was exactly 0; the step was taken with the grown step size.
    NONFINITE: the loss or the gradient at the current point was NaN or inf and the last update
      could not be undone (it was a checked trial point, or already an undo): zero update,
      moments, counters and step sizes kept.
    SPEED_UP: the search was skipped by SaLSA's speed-up rule or by search skipping
      (``skip_searches``, ``search_steps``); no trial was made and the step used the grown step
      size (after ``search_steps``: the last found step size times ``step_size_decay``).
    UNDONE: the loss or the gradient at the current point was NaN or inf after an unchecked step
      (the ADAMSLS/PLASLS momentum step, a SaLSA speed-up step, a skipped or failed search): the
      update is minus that step, recomputed from the state (the parameters go back to where the
      last finite loss was seen, up to rounding), and the step sizes are multiplied by
      ``RECOVERY_FACTOR``.
    """

    ACCEPTED = 0
    FAILED = 1
    SKIPPED = 2
    NONFINITE = 3
    SPEED_UP = 4
    UNDONE = 5


#: Step sizes are multiplied by this when a step is undone (UNDONE); NONFINITE keeps them.
RECOVERY_FACTOR = 0.5


class LineSearchInfo(NamedTuple):
    """Diagnostics of the last ``update`` call.

    Scalars are float32 (float64 under ``jax_enable_x64``) unless noted. ``decrease`` is always
    the raw observed decrease ``f(w) - f(w')``; the smoothed and nonmonotone rules compare other
    quantities, so there ``decrease < sufficient_decrease`` can hold at an accepted trial.
    """

    num_evaluations: jax.Array  # int32 (): trials evaluated up to the accepted one (or all)
    num_backtracks: jax.Array  # int32 (): step-size reductions in the last update
    status: jax.Array  # int32 (): a SearchStatus code
    searched_group: jax.Array  # int32 (): group searched; -1 when all groups moved together
    decrease: jax.Array  # (): f(w) - f(w') at the last trial; NaN when no trial was made
    sufficient_decrease: jax.Array  # (): Armijo right-hand side c * eta * P at the last trial
    num_rounds: jax.Array  # int32 (): value_fn calls (rounds of the ladder; = trials for K = 1)


def keep_or_undo_state(
    state: Any, info: LineSearchInfo, undo: jax.Array, min_step_size: float, dtype: Any
) -> Any:
    """The state to keep after a non-finite loss or gradient at the current point.

    ``state`` is the previous state with its ``info`` replaced by ``info`` and its status set to
    UNDONE where ``undo`` (the last step was never checked by a trial and is undone: its step
    sizes times ``RECOVERY_FACTOR``, at least ``min_step_size``) or NONFINITE (step sizes kept).
    """
    bad_status = jnp.where(undo, SearchStatus.UNDONE, SearchStatus.NONFINITE)
    return state._replace(
        step_sizes=jnp.where(undo, state.step_sizes * RECOVERY_FACTOR, state.step_sizes)
        .clip(min_step_size)
        .astype(dtype),
        info=info._replace(status=bad_status.astype(jnp.int32)),
    )


def empty_info(dtype: Any) -> LineSearchInfo:
    zero_i = jnp.zeros([], jnp.int32)
    nan = jnp.full([], jnp.nan, dtype)
    return LineSearchInfo(zero_i, zero_i, zero_i, jnp.full([], -1, jnp.int32), nan, nan, zero_i)


def scalar_dtype() -> jnp.dtype:
    """float32, or float64 when ``jax_enable_x64`` is on: the dtype of step sizes and losses."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


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


def as_scalar(x: Any, dtype: Any, what: str) -> jax.Array:
    """``x`` as a scalar of ``dtype``; TypeError naming ``what`` if it is not a single number."""
    if isinstance(x, (tuple, list)):
        raise TypeError(
            f"{what} is a {type(x).__name__}, not a scalar loss; if value_fn returns "
            "(loss, aux), build the optimizer with has_aux=True."
        )
    x = jnp.asarray(x)
    if x.size != 1:
        raise TypeError(
            f"{what} must be a scalar loss, got shape {x.shape}; a line search needs value_fn "
            "to return one number (or (loss, aux) with has_aux=True)."
        )
    return x.reshape(()).astype(dtype)


def all_finite(value: jax.Array, tree: Any) -> jax.Array:
    """True when ``value`` and every leaf of ``tree`` are finite (bool scalar)."""
    ok = jnp.all(jnp.isfinite(value))
    for leaf in jax.tree.leaves(tree):
        ok = ok & jnp.all(jnp.isfinite(leaf))
    return ok


def search_status(search: jax.Array, accepted: jax.Array) -> jax.Array:
    """SearchStatus code (int32) of a step at a finite point, from the flags of its search."""
    status = jnp.where(
        search,
        jnp.where(accepted, SearchStatus.ACCEPTED, SearchStatus.FAILED),
        SearchStatus.SKIPPED,
    )
    return status.astype(jnp.int32)


def check_positive(**values: float) -> None:
    for name, v in values.items():
        if not v > 0.0:
            raise ValueError(f"{name} must be positive, got {v}")


def check_open_unit(**values: float) -> None:
    for name, v in values.items():
        if not 0.0 < v < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {v}")


def check_unit(**values: float) -> None:
    for name, v in values.items():
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {v}")


# ------------------------------------------------------------------------------- call checks


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


def reject_masked_params(name: str, params: Any) -> None:
    """ValueError when ``params`` holds ``optax.MaskedNode`` (inside partition/masked)."""
    masked = lambda x: isinstance(x, optax.MaskedNode)
    if any(masked(leaf) for leaf in jax.tree.leaves(params, is_leaf=masked)):
        raise ValueError(
            f"{name} received params with masked parts (optax.MaskedNode): it is running inside "
            "optax.partition, optax.multi_transform or optax.masked, which hide the other "
            "parameters, so value_fn cannot be evaluated on the full model. For one step size "
            "per parameter group use sls_jax.pla_sls(param_labels) or "
            "sls_jax.scale_by_sls(param_labels=...) on the whole tree instead."
        )


def value_fn_kwargs(
    name: str, value_fn: Callable[..., Any], extra_args: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments of ``update`` for ``value_fn``, checked before tracing.

    Every trial evaluates ``value_fn(trial_params, **kwargs)`` with the very same arguments
    (batch, dropout key, ...) that were given to ``update``. As in optax's own line searches
    (``optax.scale_by_backtracking_linesearch``), a keyword that ``value_fn`` does not take is an
    error rather than silently dropped: a misspelled ``bach=batch`` would otherwise let the
    trials see ``value_fn``'s default batch instead of the gradient's.

    Raises:
      TypeError: ``update`` received a keyword ``value_fn`` does not take, or ``value_fn`` has a
        required argument ``update`` did not receive; the message names it.
    """
    try:
        signature = inspect.signature(value_fn)
    except (TypeError, ValueError):  # builtins and some C callables
        return dict(extra_args)
    parameters = signature.parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(
            k
            for k in extra_args
            if k not in parameters or parameters[k].kind is inspect.Parameter.POSITIONAL_ONLY
        )
        if unknown:
            raise TypeError(
                f"{name}.update received keyword arguments that value_fn does not take: "
                f"{unknown} (value_fn's parameters: {list(parameters)}). Every keyword given to "
                "update() is passed to value_fn for each trial; check the spelling."
            )
    try:
        signature.bind(None, **extra_args)
    except TypeError as error:
        raise TypeError(
            f"value_fn cannot be called as value_fn(params, **extra_args) with the keyword "
            f"arguments given to {name}.update() ({sorted(extra_args)}): {error}. Pass what "
            "value_fn needs (e.g. batch=batch) to update() as keyword arguments; every trial of "
            "the line search evaluates value_fn on exactly those arguments."
        ) from None
    return dict(extra_args)


class Call(NamedTuple):
    """The checked arguments of one ``update`` call."""

    value: jax.Array  # () in the step-size dtype: f(w)
    loss_fn: Callable[[Any], Any]  # trial params -> scalar loss (aux dropped), extra args bound


def check_call(
    name: str,
    value: Any,
    value_fn: Any,
    params: Any,
    extra_args: dict[str, Any],
    *,
    has_aux: bool,
    dtype: Any,
) -> Call:
    """Checks the arguments of a line search's ``update`` before any work is traced.

    Args:
      name: the transformation's name, for messages.
      value: ``f(w)``: the loss, or ``(loss, aux)`` as ``jax.value_and_grad(..., has_aux=True)``
        returns it when ``has_aux``.
      value_fn: ``value_fn(params, **extra_args)`` -> a scalar loss, or ``(loss, aux)`` when
        ``has_aux``.
      params: the current parameters.
      extra_args: the remaining keyword arguments of ``update``.
      has_aux: whether ``value_fn`` returns ``(loss, aux)``; the aux of the trials is dropped.
      dtype: the step-size dtype.

    Returns:
      A :class:`Call`.

    Raises:
      TypeError: ``value``, ``value_fn`` or ``params`` missing, a keyword ``value_fn`` does not
        take, a missing required argument of ``value_fn``, or a value that is not a scalar.
      ValueError: masked params (inside ``optax.partition``; see :func:`reject_masked_params`).
    """
    require_value_fn(name, value, value_fn, params)
    reject_masked_params(name, params)
    kwargs = value_fn_kwargs(name, value_fn, extra_args)
    if has_aux and isinstance(value, (tuple, list)):
        value = value[0]
    value = as_scalar(value, dtype, "value")

    def loss_fn(trial_params: Any) -> Any:
        out = value_fn(trial_params, **kwargs)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(
                    f"{name} was built with has_aux=True, so value_fn must return (loss, aux); "
                    f"it returned {type(out).__name__}."
                )
            out = out[0]
        return out

    return Call(value, loss_fn)
