"""Step-by-step agreement with the authors' PyTorch package ``salsa-optimizer`` 0.1.0.

The trajectories in ``tests/reference/torch_trajectories.json`` were produced by
``tests/reference/make_torch_trajectories.py`` (torch 2.13.0 CPU, float64) running
``salsa.adam_sls.AdamSLS([params], smooth=False, c=...)`` and ``salsa.SaLSA.SaLSA`` on the MLP of
``tests/reference/problem.py``. Here sls_jax runs the same problem from the same weights and
batches in float64 and must agree on every step: the minibatch loss, the stored step size, the
number of loss evaluations and the parameters, to 1e-6 relative.

``.ci/run`` regenerates the trajectories from the installed PyPI package and points
``SLS_JAX_TORCH_TRAJECTORIES`` at them, so CI compares against the live package, not only
against the stored copy.

Where the spec deliberately differs from the package (at most 100 trials instead of AdamSLS's
200; the step after a failed search), the trajectories never reach that case; those behaviours
are tested against the spec in test_optimizers.py.
"""

from __future__ import annotations

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import sls_jax
from tests.reference import problem

FIXTURE = pathlib.Path(__file__).parent / "reference" / "torch_trajectories.json"
RTOL = 1e-6


def _trajectories() -> dict:
    path = pathlib.Path(os.environ.get("SLS_JAX_TORCH_TRAJECTORIES", FIXTURE))
    return json.loads(path.read_text())


def _loss(params, x, y):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


def _make_optimizer(spec: dict):
    kwargs = spec["kwargs"]
    if spec["optimizer"].endswith("AdamSLS"):
        assert kwargs.get("smooth") is False
        return sls_jax.adam_sls(c=kwargs["c"], first_backtrack_factor=None)  # the package's
    speed_up = kwargs.get("speed_up", True)
    return sls_jax.salsa(c=kwargs.get("c", 0.5), speed_up=speed_up)


def _run_jax(spec: dict, steps: int, seed: int, batch_size: int) -> list[dict]:
    data = problem.make_problem(seed)
    x_all, y_all = data["X"], data["y"]
    params = {name: jnp.asarray(data[name], jnp.float64) for name in problem.PARAM_NAMES}
    opt = _make_optimizer(spec)
    state = opt.init(params)

    @jax.jit
    def step(params, state, x, y):
        value, grad = jax.value_and_grad(_loss)(params, x, y)
        updates, state = opt.update(grad, state, params, value=value, value_fn=_loss, x=x, y=y)
        return optax.apply_updates(params, updates), state, value

    records = []
    for k in range(steps):
        idx = problem.batch_indices(k, seed=seed, batch_size=batch_size, n=len(y_all))
        params, state, value = step(params, state, jnp.asarray(x_all[idx]), jnp.asarray(y_all[idx]))
        flat = np.concatenate([np.asarray(params[n]).ravel() for n in problem.PARAM_NAMES])
        records.append(
            {
                "loss": float(value),
                "step_size": float(state.step_sizes[0]),
                "n_forwards": 1 + int(state.info.num_evaluations),
                "params": flat,
            }
        )
    return records


RUNS = ["adam_sls_c0.1", "adam_sls_c0.5", "salsa_default", "salsa_no_speedup", "salsa_c0.9"]


@pytest.mark.parametrize("run", RUNS)
def test_agrees_with_salsa_optimizer_package(run):
    data = _trajectories()
    spec = data["runs"][run]
    reference = spec["steps"]
    steps = len(reference)
    assert steps >= 50
    with jax.enable_x64(True):
        ours = _run_jax(spec, steps, data["problem"]["seed"], data["problem"]["batch_size"])
    worst = {"loss": 0.0, "step_size": 0.0, "params": 0.0}
    for k, (mine, ref) in enumerate(zip(ours, reference, strict=True)):
        for key in ("loss", "step_size"):
            rel = abs(mine[key] - ref[key]) / abs(ref[key])
            worst[key] = max(worst[key], rel)
            assert rel <= RTOL, f"step {k}: {key} {mine[key]!r} vs package {ref[key]!r}"
        assert mine["n_forwards"] == ref["n_forwards"], f"step {k}: evaluations differ"
        ref_params = np.asarray(ref["params"])
        rel = np.max(np.abs(mine["params"] - ref_params)) / np.max(np.abs(ref_params))
        worst["params"] = max(worst["params"], rel)
        assert rel <= RTOL, f"step {k}: params differ by {rel:.2e} (relative)"
    print(f"{run}: worst relative differences over {steps} steps: {worst}")


def test_reference_runs_exercise_backtracking_and_speed_up():
    """The comparison is only meaningful if the package backtracked and skipped searches."""
    runs = _trajectories()["runs"]
    backtracked = sum(s["n_forwards"] > 2 for s in runs["adam_sls_c0.5"]["steps"])
    skipped = sum(s["n_forwards"] == 1 for s in runs["salsa_default"]["steps"])
    assert backtracked >= 3
    assert skipped >= 1
