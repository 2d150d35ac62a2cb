r"""The group schedule: which parameter groups a step searches, and PLASLS merging.

Labels (``_labels.resolve_groups``) give every leaf one of :math:`L` labels. A label's *group*
is a representative label (``group_of_label``; each label is its own group until a merge).

* One label (SGDSLS, ADAMSLS): every step searches the whole network; there is no state.
* PLASLS (paper Section III-C, Eq. 6-7, Algorithm 1): the first ``warmup_steps`` steps search
  the whole network with :math:`P = \sum_l P_l` and give every group the accepted step size;
  afterwards one group per step is searched, in cyclic label order (only that group moves in the
  trials; every group's step size grows every step; every group steps with its own step size),
  and a group whose step size fell below the threshold merges into the group with the next
  smallest one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class GroupState(NamedTuple):
    """PLASLS schedule state."""

    group_of_label: jax.Array  # int32 (L,): group (a representative label) of each label
    next_group: jax.Array  # int32 (): group the next update searches once warm-up is over


def init_groups(num_labels: int) -> GroupState:
    return GroupState(jnp.arange(num_labels, dtype=jnp.int32), jnp.zeros([], jnp.int32))


class Schedule(NamedTuple):
    """This step's choice of searched labels."""

    whole: jax.Array  # bool (): all groups searched together (warm-up or one group)
    searched: jax.Array  # bool (L,): labels that move in the trials
    group: jax.Array  # int32 (): the searched group, -1 when whole
    ref: jax.Array  # int32 (): label whose step size starts the search (0 when whole)


def schedule(
    groups: GroupState | tuple, count: jax.Array, num_labels: int, warmup_steps: int
) -> Schedule:
    """The labels searched at the step after ``count`` steps (paper Eq. 6-7)."""
    if num_labels == 1 or not groups:
        ones = jnp.ones([num_labels], bool)
        return Schedule(
            jnp.ones([], bool), ones, jnp.full([], -1, jnp.int32), jnp.zeros([], jnp.int32)
        )
    whole = count < warmup_steps
    searched = jnp.where(
        whole, jnp.ones([num_labels], bool), groups.group_of_label == groups.next_group
    )
    group = jnp.where(whole, -1, groups.next_group).astype(jnp.int32)
    ref = jnp.where(whole, 0, groups.next_group).astype(jnp.int32)
    return Schedule(whole, searched, group, ref)


def label_sums(leaf_values: list[jax.Array], leaf_label: tuple[int, ...], num_labels: int, dtype):
    """Per-label sums ``(L,)`` of per-leaf scalars (e.g. :math:`P_l`, paper Eq. 6)."""
    return (
        jnp.zeros([num_labels], dtype)
        .at[jnp.asarray(leaf_label)]
        .add(jnp.stack(leaf_values).astype(dtype))
    )


def per_label(values: jax.Array) -> list[jax.Array]:
    """The scalars of a (L,) vector, sliced once per label rather than once per leaf."""
    return [values[i] for i in range(values.shape[0])]


def merge(group: jax.Array, step_sizes: jax.Array, threshold: float) -> tuple[jax.Array, jax.Array]:
    """Algorithm 1 merging: at most one merge per step, only while more than 2 groups are active.

    The group with the smallest step size, if below ``threshold``, joins the group with the
    second smallest; both take the mean of their step sizes.

    Args:
      group: int32 (L,), the representative label of each label's group.
      step_sizes: (L,), step size of each label (equal within a group).
      threshold: :math:`\\lambda`; 0 disables merging.

    Returns:
      The new ``group`` and ``step_sizes``.
    """
    if threshold <= 0.0 or group.shape[0] <= 2:
        return group, step_sizes
    labels = jnp.arange(group.shape[0], dtype=jnp.int32)
    active = group == labels
    masked = jnp.where(active, step_sizes, jnp.inf)
    smallest = jnp.argmin(masked).astype(jnp.int32)
    second = jnp.argmin(masked.at[smallest].set(jnp.inf)).astype(jnp.int32)
    do_merge = (jnp.sum(active) > 2) & (masked[smallest] < threshold)
    merged_eta = 0.5 * (step_sizes[smallest] + step_sizes[second])
    moved = do_merge & ((group == smallest) | (group == second))
    new_group = jnp.where(do_merge & (group == smallest), second, group)
    new_steps = jnp.where(moved, merged_eta, step_sizes).astype(step_sizes.dtype)
    return new_group, new_steps


def next_group(group: jax.Array, searched: jax.Array) -> jax.Array:
    """The first active group after ``searched`` (-1: none yet) in cyclic label order."""
    num = group.shape[0]
    labels = jnp.arange(num, dtype=jnp.int32)
    active = group == labels
    distance = jnp.where(active, (labels - searched - 1) % num, num)
    return jnp.argmin(distance).astype(jnp.int32)


def advance(
    groups: GroupState | tuple, sched: Schedule, step_sizes: jax.Array, threshold: float
) -> tuple[GroupState | tuple, jax.Array]:
    """Merging and the next group of the cycle, after a step; returns (groups, step sizes)."""
    if not groups:
        return groups, step_sizes
    group, step_sizes = merge(groups.group_of_label, step_sizes, threshold)
    return GroupState(group, next_group(group, sched.group)), step_sizes


def leaf_scale(values: jax.Array, leaf_label: tuple[int, ...]) -> list[jax.Array]:
    """Each leaf's entry of a per-label vector."""
    sliced = per_label(values)
    return [sliced[lab] for lab in leaf_label]
