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

from sls_jax import _base, _conditions, _directions, _kernel
from sls_jax._base import LineSearchInfo, SearchStatus, keep_or_undo_state
from sls_jax._sls import MIN_STEP_SIZE

__all__ = ["ScaleBySaLSAState", "salsa", "scale_by_salsa"]


class SpeedUpState(NamedTuple):
    """SaLSA's speed-up: averages of the searched step sizes and the steps since a search."""

    avg_step_size_slow: jax.Array  # (): average (factor 0.99) of searched step sizes
    avg_step_size_fast: jax.Array  # (): average (factor 0.9) of searched step sizes
    steps_since_search: jax.Array  # int32 (): steps since the last search (starts at 100)


def init_speed_up(dtype: Any) -> SpeedUpState:
    tiny = jnp.full([], 1e-8, dtype)
    return SpeedUpState(tiny, tiny, jnp.full([], 100, jnp.int32))


def speed_up_decision(state: SpeedUpState, count: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Whether SaLSA searches at the step after ``count`` steps, and the steps since a search.

    Steps 0-8 always search; later a step searches when the steps since the last search reach
    :math:`\min(10, 1 / (r - 1 + 10^{-8}))`, :math:`r \ge 1` the ratio of the fast and slow
    averages of the searched step sizes.
    """
    ratio = state.avg_step_size_fast / state.avg_step_size_slow
    ratio = jnp.maximum(ratio, 1.0 / ratio)
    needed = jnp.minimum(10.0, 1.0 / ((ratio - 1.0) + 1e-8))
    since = state.steps_since_search + 1
    return (count + 1 < 10) | (since >= needed), since


def speed_up_update(
    state: SpeedUpState, searched: jax.Array, since: jax.Array, step_size: jax.Array, dtype
) -> SpeedUpState:
    return SpeedUpState(
        jnp.where(
            searched, 0.99 * state.avg_step_size_slow + 0.01 * step_size, state.avg_step_size_slow
        ).astype(dtype),
        jnp.where(
            searched, 0.9 * state.avg_step_size_fast + 0.1 * step_size, state.avg_step_size_fast
        ).astype(dtype),
        jnp.where(searched, 0, since).astype(jnp.int32),
    )


class ScaleBySaLSAState(NamedTuple):
    """State of :func:`scale_by_salsa`; scalars are float32 (float64 under ``jax_enable_x64``)."""

    count: jax.Array  # int32 (): steps taken; a step at a non-finite point is not counted
    step_sizes: jax.Array  # (1,): the stored step size (the package's ``step_size``)
    moments: _directions.Moments  # Adam moments mu, nu; params' structure
    avg_decrease: jax.Array  # (): average of accepted decreases f(w) - f(w')
    avg_pnorm: jax.Array  # (): average of the preconditioned squared gradient norm P
    speed_up: SpeedUpState | tuple  # () with speed_up=False
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
    min_step_size: float = MIN_STEP_SIZE,
    ladder: int = 1,
    has_aux: bool = False,
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

    The same pieces as :func:`sls_jax.scale_by_sls`: the Adam-preconditioned direction
    (exponent :math:`k + 2`), SaLSA's averaged rule, the kernel. Symbols: :math:`\eta` =
    ``step_sizes``, :math:`c` = ``c``, :math:`a` = ``averaging``, :math:`\gamma` =
    ``growth_factor``. Rejected trials shrink :math:`\eta` by ``backtrack_factor``. With
    ``speed_up``, steps 0-8 always search; later a step searches when the number of steps since
    the last search reaches :math:`\min(10, 1 / (r - 1 + 10^{-8}))`, :math:`r \ge 1` the ratio
    of the fast and slow step-size averages; otherwise it takes :math:`w - \eta\, p \odot \hat
    m` with the grown :math:`\eta` without storing it (SPEED_UP). Edge cases as in
    :func:`sls_jax.scale_by_sls`: no search when :math:`\bar P < 10^{-8}` or the loss is 0 (then
    a momentum step); after ``max_trials`` rejections the step uses
    :math:`\eta \beta_b^{\text{max\_trials}}` (the package would stay at its last trial point);
    a non-finite loss or gradient after a momentum step undoes it and halves the step size
    (UNDONE), after any other step gives a zero update and keeps the state (NONFINITE).

    Args:
      init_step_size: first stored step size (1.0).
      c: sufficient-decrease constant (0.5).
      b1, b2, eps: Adam moments (0.9, 0.999) and the constant outside the square root (1e-8).
      averaging: factor of the decrease and P averages (the package's third momentum, 0.9).
      growth_factor: step-size growth before each step (1.1).
      backtrack_factor: step-size reduction after a rejected trial (0.8).
      max_trials: maximum value_fn evaluations per step (100).
      speed_up: skip searches while the step size is stable (True).
      min_step_size, ladder, has_aux: as in :func:`sls_jax.scale_by_sls`.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with the call convention of
      :func:`sls_jax.scale_by_sls`: ``update(grads, state, params, *, value, value_fn,
      **extra_args)``.

    Raises:
      ValueError: hyperparameters out of range.
      TypeError: at ``update``, as :func:`sls_jax.scale_by_sls`.

    References:
      Kenneweg, Kenneweg, Hammer, "No learning rates needed: Introducing SALSA - Stable
      Armijo Line Search Adaptation", IJCNN 2024; PyPI ``salsa-optimizer`` 0.1.0.
    """
    _base.check_open_unit(backtrack_factor=backtrack_factor, c=c)
    _base.check_positive(init_step_size=init_step_size)
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if not (growth_factor >= 1.0 and max_trials >= 1):
        raise ValueError(
            f"growth_factor must be >= 1 and max_trials >= 1, got {growth_factor}, {max_trials}"
        )
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0 and 0.0 <= averaging < 1.0):
        raise ValueError(f"b1, b2 and averaging must be in [0, 1), got {b1}, {b2}, {averaging}")
    if not min_step_size >= 0.0:
        raise ValueError(f"min_step_size must be >= 0, got {min_step_size}")
    min_step_size = min(min_step_size, init_step_size)
    if ladder < 1:
        raise ValueError(f"ladder must be >= 1, got {ladder}")
    name = "scale_by_salsa"

    def init_fn(params: optax.Params) -> ScaleBySaLSAState:
        dtype = _base.scalar_dtype()
        return ScaleBySaLSAState(
            count=jnp.zeros([], jnp.int32),
            step_sizes=jnp.full([1], init_step_size, dtype),
            moments=_directions.init_moments(params, momentum=True, second=True),
            avg_decrease=jnp.zeros([], dtype),
            avg_pnorm=jnp.zeros([], dtype),
            speed_up=init_speed_up(dtype) if speed_up else (),
            info=_base.empty_info(dtype),
        )

    def momentum_direction(moments, exponent, treedef):
        """The momentum direction p * m_hat of a step with exponent s, per leaf."""
        nu_leaves = treedef.flatten_up_to(moments.nu)
        precond = _directions.preconditioner(nu_leaves, exponent, b2=b2, eps=eps)
        mu_leaves = treedef.flatten_up_to(moments.mu)
        return _directions.momentum(mu_leaves, precond, exponent, b1=b1)

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
        dtype = state.step_sizes.dtype
        call = _base.check_call(
            name, value, value_fn, params, extra_args, has_aux=has_aux, dtype=dtype
        )
        value = call.value
        finite = _base.all_finite(value, updates)
        treedef = jax.tree.structure(params)
        param_leaves = treedef.flatten_up_to(params)
        s = (state.count + 2).astype(dtype)  # the package's bias-correction exponent

        if speed_up:
            run_search, since = speed_up_decision(state.speed_up, state.count)
        else:
            run_search, since = jnp.ones([], bool), None

        grads = _directions.widen(updates)
        moments = _directions.update_moments(grads, state.moments, b1, b2)
        eta = state.step_sizes[0] * growth_factor

        g_leaves = treedef.flatten_up_to(grads)
        nu_leaves = treedef.flatten_up_to(moments.nu)
        direction = _directions.adam_preconditioned(
            g_leaves, nu_leaves, s, b2=b2, eps=eps, dtype=dtype
        )
        pnorm = sum(x.astype(dtype) for x in direction.slope).astype(dtype)
        finite = finite & jnp.isfinite(pnorm)  # e.g. overflow of g**2 / sqrt(v)
        avg_pnorm = jnp.where(
            run_search, averaging * state.avg_pnorm + (1.0 - averaging) * pnorm, state.avg_pnorm
        ).astype(dtype)
        search = finite & run_search & (value != 0.0) & (avg_pnorm >= _base.MIN_PNORM)
        accept = _conditions.salsa_armijo(c, averaging, state.avg_decrease, avg_pnorm)

        def trial_value(step_size: jax.Array) -> jax.Array:
            trial = [
                _base.round_to(p - step_size.astype(d.dtype) * d, p.dtype)
                for p, d in zip(param_leaves, direction.search)
            ]
            return call.loss_fn(treedef.unflatten(trial))

        result = _kernel.backtrack(
            trial_value,
            value,
            eta,
            accept,
            search=search,
            backtrack_factor=backtrack_factor,
            max_trials=max_trials,
            ladder=ladder,
        )
        step_size = jnp.maximum(result.step_size, min_step_size).astype(dtype)
        avg_decrease = jnp.where(
            result.accepted & (result.decrease != 0.0),
            averaging * state.avg_decrease + (1.0 - averaging) * result.decrease,
            state.avg_decrease,
        ).astype(dtype)

        # A searched step moves to the accepted trial point; a step without search (speed-up,
        # small P, zero loss) takes the momentum step.
        momentum_dir = _directions.momentum(
            treedef.flatten_up_to(moments.mu), direction.precond, s, b1=b1
        )
        step_dir = [jnp.where(search, d, md) for d, md in zip(direction.search, momentum_dir)]

        status = _base.search_status(search, result.accepted)
        status = jnp.where(~run_search, SearchStatus.SPEED_UP, status).astype(jnp.int32)
        info = LineSearchInfo(
            num_evaluations=result.num_evaluations,
            num_backtracks=result.num_backtracks,
            status=status,
            searched_group=jnp.full([], -1, jnp.int32),
            decrease=result.decrease,
            sufficient_decrease=(c * result.last_trial_step_size * avg_pnorm).astype(dtype),
            num_rounds=result.num_rounds,
        )
        new_state = ScaleBySaLSAState(
            count=state.count + 1,
            step_sizes=jnp.where(run_search, step_size, state.step_sizes[0])
            .reshape([1])
            .astype(dtype),
            moments=moments,
            avg_decrease=avg_decrease,
            avg_pnorm=avg_pnorm,
            speed_up=(
                speed_up_update(state.speed_up, run_search, since, step_size, dtype)
                if speed_up
                else ()
            ),
            info=info,
        )

        # A non-finite loss or gradient after a momentum step (speed-up or skipped search, never
        # evaluated by a trial) undoes that step; otherwise nothing moves.
        last = state.info.status
        undo = (
            ~finite
            & (state.count > 0)
            & ((last == SearchStatus.SPEED_UP) | (last == SearchStatus.SKIPPED))
        )
        kept = keep_or_undo_state(state, info, undo, min_step_size, dtype)
        new_state = optax.tree.where(finite, new_state, kept)

        # The undo: the last momentum step, recomputed from the old state, with minus its step
        # size; the selection is on the factors, so the regular update's arithmetic is unchanged.
        exponent = (state.count + 1).astype(dtype)  # the s of the last step
        last_eta = jnp.where(
            last == SearchStatus.SPEED_UP, state.step_sizes[0] * growth_factor, state.step_sizes[0]
        ).astype(dtype)
        old_dir = momentum_direction(state.moments, exponent, treedef)
        step_dir = [jnp.where(undo, o, d) for o, d in zip(old_dir, step_dir)]
        eta_used = jnp.where(undo, -last_eta, step_size)
        moves = finite | undo
        new_updates = [
            jnp.where(moves, -eta_used.astype(d.dtype) * d, 0.0).astype(p.dtype)
            for d, p in zip(step_dir, param_leaves)
        ]
        return treedef.unflatten(new_updates), new_state

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
    min_step_size: float = MIN_STEP_SIZE,
    ladder: int = 1,
    has_aux: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """SaLSA: smoothed Armijo line search with the Adam preconditioner (``salsa-optimizer`` 0.1.0).

    The package's ``salsa.SaLSA.SaLSA`` with its defaults (``init_step_size=1``, ``c=0.5``,
    growth 1.1, backtracking 0.8, averaging 0.9, speed-up on, ``use_mv=False``). Not to be
    confused with ``adam_sls(smooth=True)``, the smoothed ADAMSLS of the IJCNN 2023 code. See
    :func:`scale_by_salsa` for the math and the call convention.
    """
    options = {k: v for k, v in locals().items() if k not in ("init_step_size", "c")}
    return scale_by_salsa(init_step_size, c, **options)
