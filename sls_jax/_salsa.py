"""SaLSA: the smoothed Adam line search of the authors' PyPI package ``salsa-optimizer`` 0.1.0.

Matched step by step against ``salsa.SaLSA.SaLSA`` (see tests/test_torch_agreement.py), including
the package's conventions that differ from ADAMSLS:

* the bias corrections use the exponent ``k + 2`` at 0-based step ``k`` (the package increments its
  step counter before using it);
* the sufficient decrease compares *averages* (factor 0.9, no bias correction) of the observed
  decrease and of the preconditioned gradient norm;
* the accepted trial point (search direction ``-g / (sqrt(v_hat) + eps)``) is the step;
* the speed-up skips the search while the step size is stable, judged by the ratio of a fast
  (0.9) and a slow (0.99) average of accepted step sizes; a skipped step moves along the momentum
  direction with the grown step size but does not store it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from sls_jax import _armijo
from sls_jax._armijo import LineSearchInfo, SearchStatus
from sls_jax._sls import MIN_PNORM

__all__ = ["ScaleBySaLSAState", "salsa", "scale_by_salsa"]


class ScaleBySaLSAState(NamedTuple):
    """State of :func:`scale_by_salsa`; scalars are float32 (float64 under ``jax_enable_x64``)."""

    count: (
        jax.Array
    )  # int32 (): steps taken; a step with non-finite loss or gradient is not counted
    step_sizes: jax.Array  # (1,): the stored step size (the package's ``step_size``)
    mu: optax.Updates  # first moment, params' structure and dtypes
    nu: optax.Updates  # second moment, params' structure and dtypes
    avg_decrease: jax.Array  # (): average of accepted decreases f(w) - f(w')
    avg_pnorm: jax.Array  # (): average of the preconditioned squared gradient norm P
    avg_step_size_slow: jax.Array  # (): average (factor 0.99) of searched step sizes
    avg_step_size_fast: jax.Array  # (): average (factor 0.9) of searched step sizes
    steps_since_search: jax.Array  # int32 (): steps since the last search (starts at 100)
    info: LineSearchInfo  # diagnostics of the last update


def scale_by_salsa(
    init_step_size: float = 1.0,
    c: float = 0.5,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    averaging: float = 0.9,
    growth_factor: float = 1.1,
    backtrack_factor: float = 0.8,
    max_trials: int = 100,
    speed_up: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""SaLSA line search (Kenneweg et al., "No learning rates needed: Introducing SALSA").

    At 0-based step :math:`k`, with :math:`s = k + 2` (the package's bias-correction exponent),
    :math:`\hat v = v / (1 - \beta_2^s)`, :math:`p = 1 / (\sqrt{\hat v} + \epsilon)`,
    :math:`P = \sum p g^2` and :math:`\eta \leftarrow \gamma \eta`:

    .. math::

      \bar P &\leftarrow a \bar P + (1 - a) P, \\
      \text{accept } \eta &\text{ when } a \bar\Delta + (1 - a)(f_k(w) - f_k(w - \eta p g))
        \ge c \, \eta \, \bar P \text{ (or the decrease is exactly 0)}, \\
      \bar\Delta &\leftarrow a \bar\Delta + (1 - a)(f_k(w) - f_k(w')) \text{ on acceptance}, \\
      w_{k+1} &= w - \eta \, p \odot g.

    Symbols: :math:`\eta` = ``step_sizes``, :math:`c` = ``c``, :math:`a` = ``averaging``,
    :math:`\gamma` = ``growth_factor``. Rejected trials shrink :math:`\eta` by
    ``backtrack_factor``. With ``speed_up``, steps 0-8 always search; later a step searches when
    the number of steps since the last search reaches
    :math:`\min(10, 1 / (r - 1 + 10^{-8}))`, :math:`r \ge 1` the ratio of the fast and slow
    step-size averages; otherwise it takes :math:`w - \eta\, p \odot \hat m` with the grown
    :math:`\eta` without storing it. Edge cases as in :func:`sls_jax.scale_by_sls`: no search
    when :math:`\bar P < 10^{-8}` or the loss is 0 (then a momentum step); after ``max_trials``
    rejections the step uses :math:`\eta \beta_b^{\text{max\_trials}}` (the package would stay at
    its last trial point); a non-finite loss or gradient gives a zero update and keeps the state.

    Args:
      init_step_size: first stored step size (1.0).
      c: sufficient-decrease constant (0.5).
      b1, b2, eps: Adam moments (0.9, 0.999) and the constant outside the square root (1e-8).
      averaging: factor of the decrease and P averages (the package's third momentum, 0.9).
      growth_factor: step-size growth before each step (1.1).
      backtrack_factor: step-size reduction after a rejected trial (0.8).
      max_trials: maximum value_fn evaluations per step (100).
      speed_up: skip searches while the step size is stable (True).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with the call convention of
      :func:`sls_jax.scale_by_sls`: ``update(grads, state, params, *, value, value_fn,
      **extra_args)``.

    Raises:
      ValueError: hyperparameters out of range.
      TypeError: at ``update``, when ``value``/``value_fn`` are missing or ``value_fn`` lacks
        a required argument.

    References:
      Kenneweg, Kenneweg, Hammer, "No learning rates needed: Introducing SALSA - Stable
      Armijo Line Search Adaptation", IJCNN 2024; PyPI ``salsa-optimizer`` 0.1.0.
    """
    if not 0.0 < backtrack_factor < 1.0:
        raise ValueError(f"backtrack_factor must be in (0, 1), got {backtrack_factor}")
    if not init_step_size > 0.0:
        raise ValueError(f"init_step_size must be positive, got {init_step_size}")
    if not 0.0 < c < 1.0:
        raise ValueError(f"c must be in (0, 1), got {c}")
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if not (growth_factor >= 1.0 and max_trials >= 1):
        raise ValueError(
            f"growth_factor must be >= 1 and max_trials >= 1, got {growth_factor}, {max_trials}"
        )
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0 and 0.0 <= averaging < 1.0):
        raise ValueError(f"b1, b2 and averaging must be in [0, 1), got {b1}, {b2}, {averaging}")
    name = "scale_by_salsa"

    def init_fn(params: optax.Params) -> ScaleBySaLSAState:
        dtype = _armijo.scalar_dtype()
        return ScaleBySaLSAState(
            count=jnp.zeros([], jnp.int32),
            step_sizes=jnp.full([1], init_step_size, dtype),
            mu=_armijo.zeros_moments(params),
            nu=_armijo.zeros_moments(params),
            avg_decrease=jnp.zeros([], dtype),
            avg_pnorm=jnp.zeros([], dtype),
            avg_step_size_slow=jnp.full([], 1e-8, dtype),
            avg_step_size_fast=jnp.full([], 1e-8, dtype),
            steps_since_search=jnp.full([], 100, jnp.int32),
            info=_armijo.empty_info(dtype),
        )

    def update_fn(
        updates: optax.Updates,
        state: ScaleBySaLSAState,
        params: optax.Params | None = None,
        *,
        value: jax.Array | None = None,
        value_fn: Any = None,
        grad: optax.Updates | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, ScaleBySaLSAState]:
        del grad
        fn_kwargs = _armijo.check_call(name, value, value_fn, params, extra_args)
        dtype = state.step_sizes.dtype
        value = _armijo.as_scalar(value, dtype, "value")
        finite = _armijo.all_finite(value, updates)
        treedef = jax.tree.structure(params)
        s = (state.count + 2).astype(dtype)  # the package's bias-correction exponent

        ratio = state.avg_step_size_fast / state.avg_step_size_slow
        ratio = jnp.maximum(ratio, 1.0 / ratio)
        needed = jnp.minimum(10.0, 1.0 / ((ratio - 1.0) + 1e-8))
        since = state.steps_since_search + 1

        updates = jax.tree.map(lambda g: g.astype(_armijo.moment_dtype(g.dtype)), updates)
        mu = jax.tree.map(lambda m, g: (b1 * m + (1.0 - b1) * g).astype(m.dtype), state.mu, updates)
        nu = jax.tree.map(
            lambda v, g: (b2 * v + (1.0 - b2) * jnp.square(g)).astype(v.dtype), state.nu, updates
        )
        v_scale = 1.0 / (1.0 - b2**s)
        m_scale = 1.0 / (1.0 - b1**s)
        eta = state.step_sizes[0] * growth_factor

        run_search = ~jnp.asarray(speed_up) | (state.count + 1 < 10) | (since >= needed)

        g_leaves = treedef.flatten_up_to(updates)
        precond = [
            1.0 / (jnp.sqrt(v * v_scale.astype(v.dtype)) + eps) for v in treedef.flatten_up_to(nu)
        ]
        direction = [g * p for g, p in zip(g_leaves, precond)]
        pnorm = sum(
            jnp.sum(g.astype(dtype) * d.astype(dtype)) for g, d in zip(g_leaves, direction)
        ).astype(dtype)
        finite = finite & jnp.isfinite(pnorm)  # e.g. overflow of g**2 / sqrt(v)
        avg_pnorm = jnp.where(
            run_search, averaging * state.avg_pnorm + (1.0 - averaging) * pnorm, state.avg_pnorm
        ).astype(dtype)
        search = finite & run_search & (value != 0.0) & (avg_pnorm >= MIN_PNORM)

        def accept(decrease, step_size):
            smoothed = averaging * state.avg_decrease + (1.0 - averaging) * decrease
            return (decrease == 0.0) | (smoothed >= c * step_size * avg_pnorm)

        param_leaves = treedef.flatten_up_to(params)

        def trial_value(step_size: jax.Array) -> jax.Array:
            trial = [
                _armijo.round_to(p - step_size.astype(d.dtype) * d, p.dtype)
                for p, d in zip(param_leaves, direction)
            ]
            return value_fn(treedef.unflatten(trial), **fn_kwargs)

        result = _armijo.backtrack(
            trial_value,
            value,
            eta,
            accept,
            search=search,
            backtrack_factor=backtrack_factor,
            max_trials=max_trials,
        )
        step_size = result.step_size
        avg_decrease = jnp.where(
            result.accepted & (result.decrease != 0.0),
            averaging * state.avg_decrease + (1.0 - averaging) * result.decrease,
            state.avg_decrease,
        ).astype(dtype)

        # A searched step moves to the accepted trial point; a step without search (speed-up,
        # small P, zero loss) takes the momentum step.
        new_updates = []
        for p, d, m, pc in zip(param_leaves, direction, treedef.flatten_up_to(mu), precond):
            momentum_dir = m * m_scale.astype(m.dtype) * pc
            u = -step_size.astype(d.dtype) * jnp.where(search, d, momentum_dir)
            new_updates.append(jnp.where(finite, u, 0.0).astype(p.dtype))

        status = _armijo.search_status(search, result.accepted, finite)
        status = jnp.where(finite & ~run_search, SearchStatus.SPEED_UP, status).astype(jnp.int32)
        info = LineSearchInfo(
            num_evaluations=result.num_evaluations,
            num_backtracks=_armijo.num_backtracks(result),
            status=status,
            searched_group=jnp.full([], -1, jnp.int32),
            decrease=result.decrease,
            sufficient_decrease=(c * result.last_trial_step_size * avg_pnorm).astype(dtype),
        )
        new_state = ScaleBySaLSAState(
            count=state.count + 1,
            step_sizes=jnp.where(run_search, step_size, state.step_sizes[0])
            .reshape([1])
            .astype(dtype),
            mu=mu,
            nu=nu,
            avg_decrease=avg_decrease,
            avg_pnorm=avg_pnorm,
            avg_step_size_slow=jnp.where(
                run_search,
                0.99 * state.avg_step_size_slow + 0.01 * step_size,
                state.avg_step_size_slow,
            ).astype(dtype),
            avg_step_size_fast=jnp.where(
                run_search,
                0.9 * state.avg_step_size_fast + 0.1 * step_size,
                state.avg_step_size_fast,
            ).astype(dtype),
            steps_since_search=jnp.where(run_search, 0, since).astype(jnp.int32),
            info=info,
        )
        kept = jax.tree.map(
            lambda new, old: jnp.where(finite, new, old), new_state, state._replace(info=info)
        )
        return treedef.unflatten(new_updates), kept

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def salsa(
    init_step_size: float = 1.0,
    c: float = 0.5,
    *,
    speed_up: bool = True,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    max_trials: int = 100,
) -> optax.GradientTransformationExtraArgs:
    """SaLSA: smoothed Armijo line search with the Adam preconditioner (``salsa-optimizer`` 0.1.0).

    The package's ``salsa.SaLSA.SaLSA`` with its defaults (``init_step_size=1``, ``c=0.5``,
    growth 1.1, backtracking 0.8, averaging 0.9, speed-up on, ``use_mv=False``). Not to be
    confused with ``adam_sls(smooth=True)``, the smoothed ADAMSLS of the IJCNN 2023 code. See
    :func:`scale_by_salsa` for the math and the call convention.
    """
    return scale_by_salsa(
        init_step_size, c, b1=b1, b2=b2, eps=eps, max_trials=max_trials, speed_up=speed_up
    )
