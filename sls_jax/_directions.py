r"""Search directions: what a trial moves along and what the applied step is.

A direction piece turns the gradient :math:`g` (and its moments) into

* the *search direction* :math:`d`: a trial with step size :math:`\eta` evaluates
  :math:`f(w - \eta d)`;
* the per-leaf terms of :math:`P = \sum_i g_i d_i`, the slope of the Armijo condition
  (paper Eq. 2: :math:`\|g\|^2` for SGD; Eq. 5: :math:`\sum g^2 / (\sqrt{\hat v} + \epsilon)`
  for the Adam preconditioner);
* the *applied direction*: :math:`d` itself without momentum, or the bias-corrected momentum
  :math:`p \odot \hat m` (paper Eq. 3), a step that no trial evaluated.

Everything works on lists of leaves (``jax.tree.leaves`` order) so the group schedule can give
each leaf its group's step size. The moment update and the bias correction are written out
rather than taken from ``optax.tree.update_moment`` and ``optax.tree.bias_correction``: those
order the multiply-add differently and divide instead of multiplying by
:math:`1 / (1 - \beta^t)`, which rounds differently and would change every trajectory in the
last bits (and so, eventually, an accepted trial).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from sls_jax._base import moment_dtype, zeros_moments


class Moments(NamedTuple):
    """Adam moments, with the params' structure and :func:`sls_jax._base.moment_dtype`.

    ``mu`` is ``()`` without momentum (``b1 = 0``), ``nu`` is ``()`` without the Adam
    preconditioner (SGDSLS).
    """

    mu: optax.Updates
    nu: optax.Updates


def is_empty(tree: Any) -> bool:
    """Whether a state field is the empty placeholder ``()`` of a variant that lacks it."""
    return isinstance(tree, tuple) and len(tree) == 0


def init_moments(params: Any, *, momentum: bool, second: bool) -> Moments:
    return Moments(
        zeros_moments(params) if momentum else (), zeros_moments(params) if second else ()
    )


def update_moments(grads: Any, moments: Moments, b1: float, b2: float) -> Moments:
    r""":math:`m \leftarrow \beta_1 m + (1 - \beta_1) g`, :math:`v \leftarrow \beta_2 v +
    (1 - \beta_2) g^2` (paper Eq. 3), each kept in its stored dtype; empty moments stay empty.

    The formula of ``optax.tree.update_moment`` with the terms in the other order: XLA contracts
    the multiply-add into a fused one whose rounding depends on that order, and this order keeps
    every trajectory bit for bit what sls_jax has always produced.
    """
    mu, nu = moments
    if not is_empty(mu):
        mu = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, mu, grads)
        mu = optax.tree.cast_like(mu, moments.mu)
    if not is_empty(nu):
        nu = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * jnp.square(g), nu, grads)
        nu = optax.tree.cast_like(nu, moments.nu)
    return Moments(mu, nu)


def widen(grads: Any) -> Any:
    """The gradient in the moment dtype (at least float32)."""
    return jax.tree.map(lambda g: g.astype(moment_dtype(g.dtype)), grads)


class Direction(NamedTuple):
    r"""One step's search direction, as leaf lists.

    Attributes:
      search: :math:`d` per leaf; a trial is :math:`w - \eta d`.
      precond: :math:`p = 1 / (\sqrt{\hat v} + \epsilon)` per leaf, or ``None`` (identity).
      slope: :math:`\sum_{\text{leaf}} g \odot d` per leaf, in the step-size dtype or wider:
        the terms of :math:`P`.
    """

    search: list[jax.Array]
    precond: list[jax.Array] | None
    slope: list[jax.Array]


def _slope(g_leaves: list[jax.Array], d_leaves: list[jax.Array], dtype: Any) -> list[jax.Array]:
    return [
        jnp.sum(
            g.astype(jnp.promote_types(g.dtype, dtype))
            * d.astype(jnp.promote_types(d.dtype, dtype))
        )
        for g, d in zip(g_leaves, d_leaves)
    ]


def gradient(g_leaves: list[jax.Array], dtype: Any) -> Direction:
    r"""SGD (paper Eq. 1-2): :math:`d = g`, :math:`P = \|g\|^2`."""
    return Direction(list(g_leaves), None, _slope(g_leaves, g_leaves, dtype))


def preconditioner(
    nu_leaves: list[jax.Array], exponent: jax.Array, *, b2: float, eps: float
) -> list[jax.Array]:
    r"""Adam's diagonal preconditioner :math:`p = 1 / (\sqrt{v / (1 - \beta_2^s)} + \epsilon)`."""
    v_scale = 1.0 / (1.0 - b2**exponent)
    return [1.0 / (jnp.sqrt(v * v_scale.astype(v.dtype)) + eps) for v in nu_leaves]


def adam_preconditioned(
    g_leaves: list[jax.Array], nu_leaves: list[jax.Array], exponent: jax.Array, *, b2, eps, dtype
) -> Direction:
    r"""Adam-preconditioned gradient (paper Eq. 3, 5, with :math:`\beta_1 = 0`):

    :math:`p = 1 / (\sqrt{v / (1 - \beta_2^s)} + \epsilon)`, :math:`d = p \odot g`,
    :math:`P = \sum p\, g^2`. ``exponent`` is :math:`s`: the step number :math:`t = k + 1` for
    ADAMSLS/PLASLS, :math:`k + 2` for SaLSA (the package increments its counter first).
    """
    precond = preconditioner(nu_leaves, exponent, b2=b2, eps=eps)
    search = [g * p for g, p in zip(g_leaves, precond)]
    return Direction(search, precond, _slope(g_leaves, search, dtype))


def momentum(
    mu_leaves: list[jax.Array], precond: list[jax.Array] | None, exponent: jax.Array, *, b1
) -> list[jax.Array]:
    r"""The applied direction with momentum (paper Eq. 3): :math:`p \odot m / (1 - \beta_1^s)`."""
    m_scale = 1.0 / (1.0 - b1**exponent)
    if precond is None:
        return [m * m_scale.astype(m.dtype) for m in mu_leaves]
    return [m * m_scale.astype(m.dtype) * p for m, p in zip(mu_leaves, precond)]
