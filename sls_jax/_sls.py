"""SGDSLS, ADAMSLS and PLASLS: one transformation, :func:`scale_by_sls`, built from the pieces.

* direction (``_directions``): the gradient (SGDSLS) or the Adam-preconditioned gradient, and
  the applied step with or without momentum;
* acceptance rule (``_conditions``): Armijo, the smoothed Armijo of the 2023 code, or the
  nonmonotone Zhang-Hager rule;
* group schedule (``_groups``): one group, or the PLASLS warm-up, cycle and merging;
* the backtracking kernel (``_kernel``), sequential or as a batched ladder.

The aliases :func:`sgd_sls`, :func:`adam_sls` and :func:`pla_sls` fix the paper's settings.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from sls_jax import _base, _cheap, _conditions, _directions, _groups, _kernel
from sls_jax._base import LineSearchInfo, SearchStatus, keep_or_undo_state
from sls_jax._labels import ParamLabels, resolve_groups

__all__ = ["ScaleBySLSState", "adam_sls", "pla_sls", "scale_by_sls", "sgd_sls"]

#: Per-step growth of the reference runs: gamma ** (1 / n_batches_per_epoch), gamma = 2, n = 500.
REFERENCE_GROWTH = 2.0 ** (1.0 / 500)

#: Stored step sizes never fall below this (``min_step_size``), so they recover once searches
#: succeed again; far below every step size the paper's runs reach.
MIN_STEP_SIZE = 1e-10


class ScaleBySLSState(NamedTuple):
    """State of :func:`scale_by_sls`; a field a variant does not use is ``()``.

    ``L`` is the number of labels (groups before merging). Step sizes and averages are float32
    (float64 under ``jax_enable_x64``).
    """

    count: jax.Array  # int32 (): steps taken; a step at a non-finite point is not counted
    step_sizes: jax.Array  # (L,): step size of each label's leaves, used by the last update
    moments: _directions.Moments  # mu (b1 > 0), nu (Adam preconditioner); params' structure
    groups: _groups.GroupState | tuple  # PLASLS schedule (param_labels given)
    condition: _conditions.SmoothedState | _conditions.NonmonotoneState | tuple  # rule averages
    accepted_once: jax.Array | tuple  # bool (): with first_backtrack_factor, a search accepted
    info: LineSearchInfo  # diagnostics of the last update
    skip: _cheap.SkipState | tuple = ()  # search skipping (skip_searches > 0 or search_steps)
    polyak_exponent: jax.Array | tuple = ()  # int32 (): remembered backtracks l_k (polyak)


def scale_by_sls(
    *,
    init_step_size: float = 0.1,
    c: float = 0.1,
    backtrack_factor: float = 0.9,
    first_backtrack_factor: float | None = None,
    growth_factor: float = REFERENCE_GROWTH,
    max_trials: int = 100,
    preconditioner: Literal["adam", "identity"] = "adam",
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    param_labels: ParamLabels = None,
    group_order: Sequence[Hashable] | None = None,
    warmup_steps: int = 6,
    merge_threshold: float = 0.0,
    smooth: bool = False,
    smooth_decay: float = 0.999,
    nonmonotone: float | None = None,
    min_step_size: float = MIN_STEP_SIZE,
    ladder: int = 1,
    has_aux: bool = False,
    skip_searches: int = 0,
    skip_on_rise: bool = True,
    search_steps: int | None = None,
    step_size_decay: optax.Schedule | None = None,
    polyak: float | None = None,
    polyak_max: float = 10.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Stochastic Armijo line search with per-group step sizes (SGDSLS, ADAMSLS, PLASLS).

    At step :math:`k` (:math:`t = k + 1`) with minibatch loss :math:`f_k` and gradient :math:`g`
    (the incoming ``updates``):

    .. math::

      m &\leftarrow \beta_1 m + (1 - \beta_1) g, \quad
      v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \\
      p &= 1 / (\sqrt{v / (1 - \beta_2^t)} + \epsilon) \quad (p = 1 \text{ for identity}), \\
      d &= p \odot g, \quad P_l = \textstyle\sum_{i \in l} p_i g_i^2, \\
      \eta_l &\leftarrow \eta_l \, \gamma \quad \text{for every group } l, \\
      \text{accept } \eta_l &\text{ when } f_k(w - \eta_l \bar d_l) \le f_k(w) - c \, \eta_l P_l,
      \text{ else } \eta_l \leftarrow \beta_b \eta_l, \\
      w_{k+1} &= w - \eta_{l(i)} \, p \odot m / (1 - \beta_1^t) \quad \text{per leaf } i.

    :math:`\bar d_l` is :math:`d` restricted to the searched group :math:`l` (zeros elsewhere);
    during the first ``warmup_steps`` steps, and always with one group, all groups are searched
    together with :math:`P = \sum_l P_l` and share the accepted step size (paper Eq. 3, 5).
    After warm-up group :math:`l = 0, 1, \dots` is searched in a cycle (Eq. 6-7).
    With ``b1 = 0`` the accepted trial point is the step. ``docs/algorithms.md`` states the
    algorithm and where it departs from the authors' code.

    Symbols: :math:`\eta` = ``step_sizes``, :math:`c` = ``c``, :math:`\beta_b` =
    ``backtrack_factor``, :math:`\gamma` = ``growth_factor``, :math:`\beta_1, \beta_2, \epsilon`
    = ``b1, b2, eps``.

    Edge cases (``info.status``, :class:`sls_jax.SearchStatus`): no search when
    :math:`P < 10^{-8}` or :math:`f_k(w) = 0` (SKIPPED); a NaN or inf trial loss is rejected;
    after ``max_trials`` rejected trials the step is taken with
    :math:`\eta \beta_b^{\text{max\_trials}}` (FAILED); stored step sizes never fall below
    ``min_step_size``. A non-finite loss or gradient at :math:`w` after a momentum step (which
    no trial checked) undoes that step, recomputed from the state, and multiplies the step sizes
    by ``RECOVERY_FACTOR = 0.5`` (UNDONE); otherwise it gives a zero update and keeps the state
    (NONFINITE). Neither counts as a step.

    Args:
      init_step_size: :math:`\eta_0` for every group (0.1 in the paper's runs).
      c: sufficient-decrease constant (0.1 in the paper's runs; 0.5 suggested with smoothing).
      backtrack_factor: :math:`\beta_b` in (0, 1) (0.9).
      first_backtrack_factor: the reduction used until a search is accepted for the first time,
        a cheaper start when ``init_step_size`` is far too large (e.g. 0.5); ``None`` (default,
        the paper's search) uses ``backtrack_factor`` throughout.
      growth_factor: per-step step-size growth, the reference's
        ``gamma ** (1 / n_batches_per_epoch)`` (``2 ** (1 / 500)``); 1 disables growth.
      max_trials: maximum trials (value_fn evaluations) per step (100).
      preconditioner: ``"adam"`` (ADAMSLS/PLASLS) or ``"identity"`` (SGDSLS).
      b1: momentum of the applied step; 0 makes the accepted trial point the step.
      b2: second-moment decay (``"adam"`` only).
      eps: added to :math:`\sqrt{\hat v}` (``"adam"`` only).
      param_labels: parameter groups: ``None`` (one group), a label pytree (a prefix of params
        is fine) or a function of params; see :func:`sls_jax.label_by_path`.
      group_order: optional list of all labels giving group ids and the cycle order.
      warmup_steps: steps searched on the whole network before the per-group cycle (6 in the
        reference runs). Irrelevant with one group.
      merge_threshold: :math:`\lambda` of Algorithm 1: after a step, while more than 2 groups
        are active, the group with the smallest step size, if below :math:`\lambda`, merges into
        the group with the second smallest; the merged step size is their mean. 0 disables.
      smooth: accept when the bias-corrected exponential average (decay ``smooth_decay``) of the
        observed decrease is at least :math:`c \eta` times that of :math:`P` (reference option).
      smooth_decay: :math:`\beta_s` of the smoothed condition (0.999).
      nonmonotone: :math:`\xi \in [0, 1)` of the nonmonotone Zhang-Hager rule (accept against
        a weighted mean of past losses instead of :math:`f_k(w)`; PoNoS); ``None`` (default):
        the monotone Armijo condition. Not combined with ``smooth``.
      min_step_size: floor of the stored step sizes (1e-10, or ``init_step_size`` if smaller).
      ladder: K, trials per round: K > 1 evaluates K step sizes
        :math:`\eta, \beta_b\eta, \dots` with one ``vmap``-ped value_fn call and accepts the
        same step size as the sequential search (``value_fn`` must be ``vmap``-able).
      has_aux: ``value_fn`` returns ``(loss, aux)``; the trials drop ``aux``, and ``value`` may
        be the pair that ``jax.value_and_grad(value_fn, has_aux=True)`` returned.
      skip_searches: S, search skipping (after SaLSA's speed-up; not in the paper): while the
        last search accepted its first trial, up to S following steps take the grown step size
        without any trial (status SPEED_UP). 0 (default) searches at every step. Needs
        ``b1 > 0`` (an unchecked step is undone from the moments after a non-finite loss) and
        one group.
      skip_on_rise: with ``skip_searches``, also search when the minibatch loss is above the
        loss of the last searched step (True).
      search_steps: N: steps ``0..N-1`` search (with ``skip_searches`` if given), no later step
        does; from step N the step size is the last one found times ``step_size_decay(k - N)``
        (line search first, then Adam with the found step size and a decay). ``None``: no end.
      step_size_decay: an optax schedule of the steps since ``search_steps`` (e.g.
        ``optax.linear_schedule(1.0, 0.0, n)``), multiplying the step size; needs
        ``search_steps``. ``None``: constant 1.
      polyak: :math:`c_p`, first trial at the PoNoS Polyak step size
        :math:`\beta_b^{l_k} \min(\eta_{\max}, f_k(w) / (c_p P))`, :math:`l_k` the
        remembered backtracks (see ``sls_jax._cheap``); one group only. ``None`` (default): the
        grown stored step size.
      polyak_max: :math:`\eta_{\max}` of the Polyak first trial (10, PoNoS's).

    Returns:
      An ``optax.GradientTransformationExtraArgs``. Its ``update(updates, state, params, *,
      value, value_fn, grad=None, **extra_args)`` takes the gradient as ``updates`` (possibly
      clipped by an earlier transform), the loss ``value`` at ``params``, and ``value_fn(params,
      **extra_args) -> scalar loss``; it returns the update to add with ``optax.apply_updates``
      (like ``optax.scale_by_backtracking_linesearch``, the finished step, not a direction).
      ``grad`` is accepted for call compatibility with optax's line searches and not used. Every
      trial sees the same extra arguments (batch, dropout key) as the gradient pass.

    Raises:
      ValueError: at construction, for hyperparameters out of range; at ``init``, for a leaf
        without a label.
      TypeError: at ``update``, when ``value``/``value_fn`` are missing, ``update`` receives a
        keyword ``value_fn`` does not take (the message names it), or ``value_fn`` lacks a
        required argument.

    References:
      Kenneweg, Galli, Kenneweg, Hammer, "Faster Convergence for Transformer Fine-tuning with
      Line Search Methods", IJCNN 2023 (arXiv:2403.18506).
      Vaswani et al., "Painless Stochastic Gradient", NeurIPS 2019.
    """
    if preconditioner not in ("adam", "identity"):
        raise ValueError(f"preconditioner must be 'adam' or 'identity', got {preconditioner!r}")
    _base.check_open_unit(backtrack_factor=backtrack_factor, c=c)
    if first_backtrack_factor is not None:
        _base.check_open_unit(first_backtrack_factor=first_backtrack_factor)
    _base.check_positive(init_step_size=init_step_size)
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    _base.check_unit(smooth_decay=smooth_decay)
    if not growth_factor >= 1.0:
        raise ValueError(f"growth_factor must be >= 1, got {growth_factor}")
    if max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ValueError(f"b1 and b2 must be in [0, 1), got {b1}, {b2}")
    if warmup_steps < 0 or merge_threshold < 0.0:
        raise ValueError("warmup_steps and merge_threshold must be >= 0")
    if nonmonotone is not None:
        _base.check_unit(nonmonotone=nonmonotone)
        if smooth:
            raise ValueError("nonmonotone and smooth are two acceptance rules; choose one")
    if not min_step_size >= 0.0:
        raise ValueError(f"min_step_size must be >= 0, got {min_step_size}")
    min_step_size = min(min_step_size, init_step_size)
    if ladder < 1:
        raise ValueError(f"ladder must be >= 1, got {ladder}")
    if skip_searches < 0:
        raise ValueError(f"skip_searches must be >= 0, got {skip_searches}")
    if search_steps is not None and search_steps < 1:
        raise ValueError(f"search_steps must be >= 1 or None, got {search_steps}")
    if step_size_decay is not None and search_steps is None:
        raise ValueError("step_size_decay needs search_steps (the step the decay starts at)")
    use_skip = skip_searches > 0 or search_steps is not None
    if use_skip and b1 == 0.0:
        raise ValueError(
            "skip_searches and search_steps need b1 > 0: a step without a trial is undone from "
            "the moments after a non-finite loss"
        )
    if use_skip and param_labels is not None:
        raise ValueError(
            "skip_searches and search_steps need one group (param_labels=None): with PLASLS's "
            "cycle a search checks one group, while a skipped step moves them all (on Rosenbrock "
            "a step size collapsed to the floor)"
        )
    if polyak is not None:
        _base.check_positive(polyak=polyak, polyak_max=polyak_max)
        if param_labels is not None:
            raise ValueError("polyak (the Polyak first trial) needs one group (param_labels=None)")
    use_adam = preconditioner == "adam"
    use_momentum = b1 > 0.0
    use_first = first_backtrack_factor is not None
    name = "scale_by_sls"

    def init_fn(params: optax.Params) -> ScaleBySLSState:
        num_labels = resolve_groups(param_labels, params, group_order).num_groups
        dtype = _base.scalar_dtype()
        if smooth:
            condition = _conditions.init_smoothed(num_labels, dtype)
        elif nonmonotone is not None:
            condition = _conditions.init_nonmonotone(dtype)
        else:
            condition = ()
        return ScaleBySLSState(
            count=jnp.zeros([], jnp.int32),
            step_sizes=jnp.full([num_labels], init_step_size, dtype),
            moments=_directions.init_moments(params, momentum=use_momentum, second=use_adam),
            groups=() if param_labels is None else _groups.init_groups(num_labels),
            condition=condition,
            accepted_once=jnp.zeros([], bool) if use_first else (),
            info=_base.empty_info(dtype),
            skip=_cheap.init_skip(dtype, init_step_size, num_labels) if use_skip else (),
            polyak_exponent=jnp.zeros([], jnp.int32) if polyak is not None else (),
        )

    def update_fn(
        updates: optax.Updates,
        state: ScaleBySLSState,
        params: optax.Params | None = None,
        *,
        value: jax.Array | None = None,
        value_fn: Any = None,
        grad: optax.Updates | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, ScaleBySLSState]:
        del grad  # the incoming updates are the gradient g
        dtype = state.step_sizes.dtype
        call = _base.check_call(
            name, value, value_fn, params, extra_args, has_aux=has_aux, dtype=dtype
        )
        spec = resolve_groups(param_labels, params, group_order)
        num_labels = spec.num_groups
        if state.step_sizes.shape != (num_labels,):
            raise ValueError(
                f"state has {state.step_sizes.shape[0]} groups but params give {num_labels}; "
                "was the state made by init on another parameter tree?"
            )
        value = call.value
        finite = _base.all_finite(value, updates)
        t = state.count + 1
        treedef = jax.tree.structure(params)
        leaf_label = spec.leaf_groups
        param_leaves = treedef.flatten_up_to(params)

        # Direction (Eq. 3, 5): moments, preconditioner, search direction, slopes P_l.
        grads = _directions.widen(updates)
        moments = _directions.update_moments(grads, state.moments, b1, b2)
        g_leaves = treedef.flatten_up_to(grads)
        if use_adam:
            nu_leaves = treedef.flatten_up_to(moments.nu)
            direction = _directions.adam_preconditioned(
                g_leaves, nu_leaves, t.astype(dtype), b2=b2, eps=eps, dtype=dtype
            )
        else:
            direction = _directions.gradient(g_leaves, dtype)
        pnorm_label = _groups.label_sums(direction.slope, leaf_label, num_labels, dtype)
        finite = finite & jnp.all(jnp.isfinite(pnorm_label))  # e.g. overflow of g**2 / sqrt(v)

        # Group schedule (Eq. 6-7): which labels move in the trials, and from which step size.
        sched = _groups.schedule(state.groups, state.count, num_labels, warmup_steps)
        pnorm = jnp.sum(jnp.where(sched.searched, pnorm_label, 0.0))
        grown = state.step_sizes * growth_factor
        start = grown[sched.ref]
        if polyak is not None:
            power = jnp.power(jnp.asarray(backtrack_factor, dtype), state.polyak_exponent)
            start = (power * _cheap.polyak_step_size(value, pnorm, polyak, polyak_max)).astype(
                dtype
            )
        search = finite & (value != 0.0) & (pnorm >= _base.MIN_PNORM)
        if use_skip:
            run_search = _cheap.skip_decision(
                state.skip,
                value,
                state.count,
                max_skips=skip_searches,
                on_rise=skip_on_rise,
                search_steps=search_steps,
            )
            if search_steps is not None:
                after = state.skip.last_step_sizes
                if step_size_decay is not None:
                    after = after * step_size_decay(state.count - search_steps)
                late = state.count >= search_steps
                grown = jnp.where(late, after, grown).astype(dtype)
            search = search & run_search

        # Acceptance rule.
        condition = state.condition
        if smooth:
            accept, condition = _conditions.smoothed_armijo(
                c, smooth_decay, condition, pnorm, sched.searched & search, sched.ref, dtype
            )
        elif nonmonotone is not None:
            accept, condition = _conditions.nonmonotone_armijo(
                c, nonmonotone, condition, value, pnorm
            )
        else:
            accept = _conditions.armijo(c, pnorm)

        mask = sched.searched.astype(dtype)

        def trial_value(eta: jax.Array) -> jax.Array:
            scale = _groups.leaf_scale(eta * mask, leaf_label)
            trial = [
                _base.round_to(p - s.astype(d.dtype) * d, p.dtype)
                for p, d, s in zip(param_leaves, direction.search, scale)
            ]
            return call.loss_fn(treedef.unflatten(trial))

        if use_first:
            factor = jnp.where(
                state.accepted_once, backtrack_factor, first_backtrack_factor
            ).astype(dtype)
        else:
            factor = backtrack_factor
        result = _kernel.backtrack(
            trial_value,
            value,
            start,
            accept,
            search=search,
            backtrack_factor=factor,
            max_trials=max_trials,
            ladder=ladder,
        )
        searched = sched.searched
        if use_skip or polyak is not None:  # no trial: the grown step size, not the first trial's
            searched = searched & search
        step_sizes = jnp.where(searched, result.step_size, grown).astype(dtype)
        if smooth:
            took = sched.searched & result.accepted
            condition = _conditions.smoothed_update(
                smooth_decay, condition, took, result.decrease, dtype
            )
        groups, step_sizes = _groups.advance(state.groups, sched, step_sizes, merge_threshold)
        step_sizes = jnp.maximum(step_sizes, min_step_size).astype(dtype)

        status = _base.search_status(search, result.accepted)
        if use_skip:
            status = jnp.where(run_search, status, SearchStatus.SPEED_UP).astype(jnp.int32)
        info = LineSearchInfo(
            num_evaluations=result.num_evaluations,
            num_backtracks=result.num_backtracks,
            status=status,
            searched_group=sched.group,
            decrease=result.decrease,
            sufficient_decrease=(c * result.last_trial_step_size * pnorm).astype(dtype),
            num_rounds=result.num_rounds,
        )
        new_state = ScaleBySLSState(
            count=t,
            step_sizes=step_sizes,
            moments=moments,
            groups=groups,
            condition=condition,
            accepted_once=state.accepted_once | result.accepted if use_first else (),
            info=info,
            skip=(
                _cheap.skip_update(
                    state.skip,
                    search,
                    result.accepted,
                    result.num_evaluations,
                    value,
                    step_sizes,
                )
                if use_skip
                else ()
            ),
            polyak_exponent=(
                jnp.where(
                    search,
                    jnp.maximum(state.polyak_exponent + result.num_backtracks - 1, 0),
                    state.polyak_exponent,
                ).astype(jnp.int32)
                if polyak is not None
                else ()
            ),
        )

        # A non-finite loss or gradient must not poison the state. After a momentum step (never
        # evaluated by a trial) it is undone: that step is determined by the state.
        undo = ~finite & can_undo(state)
        kept = keep_or_undo_state(state, info, undo, min_step_size, dtype)
        new_state = optax.tree.where(finite, new_state, kept)

        # The applied step (Eq. 7): every leaf with its own group's step size. After a
        # non-finite loss, the undo: the last step, recomputed from the old state, with minus its
        # step sizes. Its direction is chosen by a cond (computed only when undoing) and its step
        # sizes by a select, which keeps the regular update's arithmetic nearly bit for bit.
        leaf_step = _groups.leaf_scale(step_sizes, leaf_label)
        if use_momentum:
            mu_leaves = treedef.flatten_up_to(moments.mu)
            step_dir = _directions.momentum(mu_leaves, direction.precond, t.astype(dtype), b1=b1)

            def last_direction() -> list[jax.Array]:
                exponent = state.count.astype(dtype)  # the t of the last step
                precond = None
                if use_adam:
                    nu_leaves = treedef.flatten_up_to(state.moments.nu)
                    precond = _directions.preconditioner(nu_leaves, exponent, b2=b2, eps=eps)
                old_mu = treedef.flatten_up_to(state.moments.mu)
                return _directions.momentum(old_mu, precond, exponent, b1=b1)

            step_dir = jax.lax.cond(undo, last_direction, lambda: step_dir)
            old_step = _groups.leaf_scale(-state.step_sizes, leaf_label)
            leaf_step = [jnp.where(undo, o, s) for o, s in zip(old_step, leaf_step)]
        else:
            step_dir = direction.search
        moves = finite | undo
        new_updates = [
            jnp.where(moves, -(s.astype(d.dtype) * d), 0.0).astype(p.dtype)
            for d, s, p in zip(step_dir, leaf_step, param_leaves)
        ]
        return treedef.unflatten(new_updates), new_state

    def can_undo(state: ScaleBySLSState) -> jax.Array:
        """Whether the last update was a momentum step the state determines (not an undo)."""
        if not use_momentum:
            return jnp.zeros([], bool)
        last = state.info.status
        return (state.count > 0) & (
            (last <= SearchStatus.SKIPPED) | (last == SearchStatus.SPEED_UP)
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def sgd_sls(
    init_step_size: float = 0.1,
    c: float = 0.1,
    *,
    backtrack_factor: float = 0.9,
    first_backtrack_factor: float | None = None,
    growth_factor: float = REFERENCE_GROWTH,
    max_trials: int = 100,
    param_labels: ParamLabels = None,
    nonmonotone: float | None = None,
    min_step_size: float = MIN_STEP_SIZE,
    ladder: int = 1,
    has_aux: bool = False,
    polyak: float | None = None,
    polyak_max: float = 10.0,
) -> optax.GradientTransformationExtraArgs:
    r"""SGDSLS: SGD direction with the Armijo line search of Vaswani et al. 2019 (paper Eq. 1-2).

    Accepts :math:`\eta` when :math:`f_k(w - \eta g) \le f_k(w) - c \eta \|g\|^2` (squared norm,
    unlike the reference code's SGD variant); the step is :math:`-\eta g`. Defaults are those of
    the paper's runs. See :func:`scale_by_sls` for the options, call convention and edge cases.

    Example:
      >>> import jax, jax.numpy as jnp, optax, sls_jax
      >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> opt = sls_jax.sgd_sls()
      >>> w = jnp.zeros(3); state = opt.init(w)
      >>> value, g = jax.value_and_grad(f)(w)
      >>> u, state = opt.update(g, state, w, value=value, value_fn=f)
      >>> bool(f(optax.apply_updates(w, u)) < value)
      True
    """
    options = {k: v for k, v in locals().items() if k not in ("init_step_size", "c")}
    return scale_by_sls(
        init_step_size=init_step_size, c=c, preconditioner="identity", b1=0.0, **options
    )


def adam_sls(
    init_step_size: float = 0.1,
    c: float = 0.1,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    backtrack_factor: float = 0.9,
    first_backtrack_factor: float | None = None,
    growth_factor: float = REFERENCE_GROWTH,
    max_trials: int = 100,
    smooth: bool = False,
    smooth_decay: float = 0.999,
    nonmonotone: float | None = None,
    min_step_size: float = MIN_STEP_SIZE,
    ladder: int = 1,
    has_aux: bool = False,
    skip_searches: int = 0,
    skip_on_rise: bool = True,
    search_steps: int | None = None,
    step_size_decay: optax.Schedule | None = None,
    polyak: float | None = None,
    polyak_max: float = 10.0,
) -> optax.GradientTransformationExtraArgs:
    r"""ADAMSLS: Adam direction with an Armijo line search on the whole network (paper Eq. 3, 5).

    Searches along :math:`-g / (\sqrt{\hat v} + \epsilon)` (beta1 = 0) with the preconditioned
    sufficient decrease :math:`c \eta \sum g^2 / (\sqrt{\hat v} + \epsilon)`; the applied step
    uses momentum, :math:`-\eta \hat m / (\sqrt{\hat v} + \epsilon)`, as the reference does
    (``b1=0`` makes the accepted trial point the step). ``smooth=True`` is the reference's
    smoothed variant (not SaLSA; for SaLSA see :func:`sls_jax.salsa`). Defaults are the paper's
    runs, whose first search from :math:`\eta_0 = 0.1` takes about 48 trials on MiniLM/SST-2;
    ``first_backtrack_factor=0.5`` halves the step size per trial until the first accepted
    search (9 trials there; measurements in the README). See :func:`scale_by_sls` for the
    options, call convention and edge cases.
    """
    options = {k: v for k, v in locals().items() if k not in ("init_step_size", "c")}
    return scale_by_sls(init_step_size=init_step_size, c=c, preconditioner="adam", **options)


#: The settings of :func:`adam_sls_skip` (measured in ``results/cheap_search``, see its README).
SKIP_SETTINGS = {"c": 0.5, "first_backtrack_factor": 0.5, "skip_searches": 3}


def adam_sls_skip(**kwargs: Any) -> optax.GradientTransformationExtraArgs:
    r"""ADAMSLS with search skipping: the cheaper line search, about one forward pass per step.

    :func:`adam_sls` with ``c=0.5`` (SaLSA's Armijo constant), ``first_backtrack_factor=0.5``
    (the first search halves the step size per trial) and ``skip_searches=3`` (after a search
    that accepted its first trial, up to 3 steps take the grown step size with no trial; a
    step whose minibatch loss is above the last searched step's searches). Not a method of the
    paper; sources: ADAMSLS (paper Eq. 3, 5), the skipping after SaLSA's speed-up (Kenneweg et
    al., ACDSA 2024), see ``sls_jax._cheap``. On the small GLUE protocol (MiniLM-L6, mean
    pooling; seeds 0-2 on SST-2, MRPC and QNLI, seed 0 on MNLI) it made 0.92-1.06 value_fn
    evaluations per step (task means; 0.90-1.20 per run) against ADAMSLS's 1.98-2.09, with dev
    accuracy at or above ADAMSLS's on all four tasks; per step it cost 1.06x / 1.12x an Adam
    step on the CPU at sequence length 64 / 128 (``results/cheap_search/README.md``,
    ``benchmarks/README.md``).

    Args:
      **kwargs: any keyword of :func:`adam_sls`; given ones replace the settings above
        (:data:`SKIP_SETTINGS`).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; the call convention, state (step sizes of
      shape ``(1,)``, float32, or float64 with ``jax_enable_x64``) and ``info`` are those of
      :func:`adam_sls`.

    Raises:
      TypeError: a keyword :func:`adam_sls` does not take.
    """
    return adam_sls(**{**SKIP_SETTINGS, **kwargs})


def pla_sls(
    param_labels: ParamLabels,
    init_step_size: float = 0.1,
    c: float = 0.1,
    *,
    group_order: Sequence[Hashable] | None = None,
    warmup_steps: int = 6,
    merge_threshold: float = 1e-12,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    backtrack_factor: float = 0.9,
    first_backtrack_factor: float | None = None,
    growth_factor: float = REFERENCE_GROWTH,
    max_trials: int = 100,
    smooth: bool = False,
    smooth_decay: float = 0.999,
    nonmonotone: float | None = None,
    min_step_size: float = MIN_STEP_SIZE,
    ladder: int = 1,
    has_aux: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""PLASLS: per-layer ADAMSLS, one step size per parameter group (paper Eq. 6-7, Alg. 1).

    The first ``warmup_steps`` steps (6 in the reference runs) search the whole network and give
    the accepted step size to every group. Then each step searches one group, cycling through the
    groups in label order; only that group moves in the trials, every group's step size grows by
    ``growth_factor`` each step, and every group steps with its own step size. Groups whose step
    size falls below ``merge_threshold`` merge (Algorithm 1; 1e-12 in the paper's runs). Step
    sizes per label: ``optax.tree.get(state, "step_sizes")``. See :func:`scale_by_sls` for the
    options, call convention and edge cases.
    """
    options = {k: v for k, v in locals().items() if k not in ("init_step_size", "c")}
    return scale_by_sls(init_step_size=init_step_size, c=c, preconditioner="adam", **options)
