r"""Acceptance rules: when a trial step size :math:`\eta` is good enough.

Each rule is built once per step from that step's numbers and returns an ``accept(decrease,
eta) -> bool`` for the kernel (``_kernel.backtrack``), where ``decrease`` is
:math:`f_k(w) - f_k(w - \eta d)` on the gradient's minibatch and :math:`P` the slope
(``_directions``). A non-finite trial loss is rejected by the kernel before any rule is asked.
Rules that keep averages across steps have a state NamedTuple and an ``update`` for after the
search.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from sls_jax._kernel import Accept


def armijo(c: float, slope: jax.Array) -> Accept:
    r"""The Armijo condition (paper Eq. 2, 5): :math:`f_k(w) - f_k(w - \eta d) \ge c\,\eta P`."""
    return lambda decrease, eta: decrease >= c * eta * slope


# ------------------------------------------------------------ smoothed Armijo of the 2023 code


class SmoothedState(NamedTuple):
    """Per-label averages of the smoothed Armijo condition (``smooth=True``), ``(L,)`` each."""

    avg_decrease: jax.Array  # average of accepted decreases
    avg_pnorm: jax.Array  # average of the searched P
    num_decrease: jax.Array  # int32: updates of avg_decrease (its bias correction)
    num_pnorm: jax.Array  # int32: updates of avg_pnorm


def init_smoothed(num_labels: int, dtype: Any) -> SmoothedState:
    zeros = jnp.zeros([num_labels], dtype)
    izeros = jnp.zeros([num_labels], jnp.int32)
    return SmoothedState(zeros, zeros, izeros, izeros)


def smoothed_armijo(
    c: float,
    decay: float,
    state: SmoothedState,
    slope: jax.Array,
    searched: jax.Array,
    ref: jax.Array,
    dtype: Any,
) -> tuple[Accept, SmoothedState]:
    r"""The smoothed Armijo condition of the authors' 2023 code (``smooth=True``, not SaLSA).

    With bias-corrected exponential averages (decay :math:`\beta_s`) of the observed decrease
    :math:`\bar\Delta` and of :math:`\bar P`, accept when
    :math:`\widehat{\beta_s \bar\Delta + (1 - \beta_s)\Delta} \ge c\,\eta\,\hat{\bar P}`.

    Args:
      c, decay: the constant and :math:`\beta_s`.
      state: the averages before this step.
      slope: this step's P of the searched labels, scalar.
      searched: bool ``(L,)``: labels whose average takes this P (searched, and a search runs).
      ref: int32 scalar: the label whose averages the rule reads (the searched group).
      dtype: the step-size dtype.

    Returns:
      The rule and the state with the P average updated (the decrease average is updated after
      the search by :func:`smoothed_update`).
    """
    num_pnorm = jnp.where(searched, state.num_pnorm + 1, state.num_pnorm)
    avg_pnorm = jnp.where(
        searched, decay * state.avg_pnorm + (1.0 - decay) * slope, state.avg_pnorm
    ).astype(dtype)
    pnorm_hat = avg_pnorm[ref] / (1.0 - decay ** num_pnorm[ref].astype(dtype))
    avg_dec_ref = state.avg_decrease[ref]
    dec_debias = 1.0 / (1.0 - decay ** (state.num_decrease[ref] + 1).astype(dtype))

    def accept(decrease, eta):
        avg = decay * avg_dec_ref + (1.0 - decay) * decrease
        return avg * dec_debias >= c * eta * pnorm_hat

    return accept, state._replace(avg_pnorm=avg_pnorm, num_pnorm=num_pnorm)


def smoothed_update(
    decay: float, state: SmoothedState, took: jax.Array, decrease: jax.Array, dtype: Any
) -> SmoothedState:
    """The decrease average after the search; ``took``: bool ``(L,)``, searched and accepted."""
    new_avg = decay * state.avg_decrease + (1.0 - decay) * decrease
    return state._replace(
        avg_decrease=jnp.where(took, new_avg, state.avg_decrease).astype(dtype),
        num_decrease=jnp.where(took, state.num_decrease + 1, state.num_decrease),
    )


# --------------------------------------------------------------------- SaLSA's averaged rule


def salsa_armijo(
    c: float, averaging: float, avg_decrease: jax.Array, avg_pnorm: jax.Array
) -> Accept:
    r"""SaLSA's rule (``salsa-optimizer`` 0.1.0): averages with factor :math:`a`, no bias
    correction: accept when :math:`a\bar\Delta + (1 - a)\Delta \ge c\,\eta\,\bar P`, where
    :math:`\bar P` already holds this step's P, or when the decrease is exactly 0."""

    def accept(decrease, eta):
        smoothed = averaging * avg_decrease + (1.0 - averaging) * decrease
        return (decrease == 0.0) | (smoothed >= c * eta * avg_pnorm)

    return accept


# ----------------------------------------------------------- nonmonotone (Zhang-Hager, PoNoS)


class NonmonotoneState(NamedTuple):
    """Zhang-Hager reference value: ``reference`` :math:`C`, ``weight`` :math:`Q` (scalars)."""

    reference: jax.Array
    weight: jax.Array


def init_nonmonotone(dtype: Any) -> NonmonotoneState:
    return NonmonotoneState(jnp.zeros([], dtype), jnp.zeros([], dtype))


def nonmonotone_armijo(
    c: float, xi: float, state: NonmonotoneState, value: jax.Array, slope: jax.Array
) -> tuple[Accept, NonmonotoneState]:
    r"""The nonmonotone Armijo condition with the Zhang-Hager reference (Zhang, Hager 2004;
    stochastic form of PoNoS, Galli, Rauhut, Schmidt, NeurIPS 2023).

    :math:`Q_k = \xi Q_{k-1} + 1`,
    :math:`C_k = \max((\xi Q_{k-1} C_{k-1} + f_k(w_k)) / Q_k, f_k(w_k))`
    (:math:`Q_{-1} = 0`, so :math:`C_0 = f_0(w_0)`), and accept when
    :math:`f_k(w_k - \eta d) \le C_k - c\,\eta P`. :math:`C_k` is a weighted mean of the past
    minibatch losses, never below the current one (the max of PoNoS: with minibatches the
    current loss can exceed the mean of the past ones, and the plain Zhang-Hager reference then
    rejects every trial and collapses the step size); :math:`\xi = 0` gives the monotone Armijo
    condition, bit for bit.

    Returns:
      The rule and the state holding :math:`C_k, Q_k` (the update is made whether or not the
      step searches; a step at a non-finite point keeps the old state).
    """
    weight = xi * state.weight + 1.0
    reference = jnp.maximum((xi * state.weight * state.reference + value) / weight, value)
    excess = reference - value  # C_k - f_k(w_k) >= 0

    def accept(decrease, eta):
        return decrease + excess >= c * eta * slope

    return accept, NonmonotoneState(reference.astype(value.dtype), weight.astype(value.dtype))
