"""Checkpoints written by a version whose optimizer state had other empty fields."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sls_glue.checkpointing import Checkpoints


class _Old(NamedTuple):
    count: jax.Array
    step_sizes: jax.Array
    moments: tuple


class _New(NamedTuple):  # a later version: an option's field, () while the option is off
    count: jax.Array
    step_sizes: jax.Array
    moments: tuple
    skip: tuple | jax.Array = ()


def _old_state():
    moments = (jnp.arange(6.0).reshape(2, 3), jnp.full((4,), 0.5))
    return {"params": {"w": jnp.arange(3.0)}, "opt": _Old(jnp.int32(7), jnp.array([2e-3]), moments)}


def test_a_checkpoint_without_a_new_empty_field_restores_bitwise(tmp_path):
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    old = _old_state()
    checkpoints.save(200, old, {"step": 200})
    like = {
        "params": {"w": jnp.zeros(3)},
        "opt": _New(jnp.int32(0), jnp.zeros(1), (jnp.zeros((2, 3)), jnp.zeros(4))),
    }
    step, state, meta = Checkpoints(tmp_path / "checkpoints").restore(like)
    assert (step, meta) == (200, {"step": 200})
    assert isinstance(state["opt"], _New) and state["opt"].skip == ()
    assert jax.tree.structure(state) == jax.tree.structure(like)
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(old)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        assert got.dtype == want.dtype


def test_a_missing_array_is_an_error_naming_it(tmp_path):
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    checkpoints.save(5, _old_state(), {"step": 5})
    old = _old_state()
    like = {"params": old["params"], "opt": _New(*old["opt"], skip=jnp.zeros(2))}
    with pytest.raises(ValueError, match=r"opt\.skip: not in the checkpoint"):
        checkpoints.restore(like)
    wrong = {"params": {"w": jnp.zeros(4)}, "opt": _New(*old["opt"])}
    with pytest.raises(ValueError, match=r"params\.w: shape/dtype \(3,\)/float32"):
        checkpoints.restore(wrong)
