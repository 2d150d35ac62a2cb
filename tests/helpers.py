"""A small bank of test problems for the sls_jax optimizers.

Every problem is a :class:`Problem`: initial parameters (a dict pytree with at least two leaves,
so a per-group optimizer can split them), a ``value_fn(params, *, batch)`` returning a scalar loss,
and the batches to feed it. Nothing is random at import time; data come from
``np.random.default_rng`` with fixed seeds and are cast to the requested dtype, so the same call
gives bit-identical problems in every test. Build float64 problems inside
``with jax.enable_x64(True):``.

Problems:

* :func:`quadratic`: ``0.5 * sum(h * (w - target)**2)`` over the concatenated leaves, minimum 0.
* :func:`ill_conditioned_quadratic`: the same with curvatures ``h`` spread over 1e0..1e3.
* :func:`rosenbrock`: ``(a - x)**2 + b * (y - x**2)**2`` with ``x``, ``y`` separate leaves,
  minimum 0 at ``(a, a**2)``.
* :func:`logistic_regression`: mean binary cross-entropy of a linear model on a fixed,
  not linearly separable data set, in minibatches.
* :func:`mlp`: mean softmax cross-entropy of a one-hidden-layer tanh network.

The registry of optimizers for the common suite (``tests/test_optimizers.py``) and the case
tests (``tests/test_cases.py``): :data:`SPECS` maps a name to a :class:`Spec` (the factory and
the constants a hand computation needs); :data:`PUBLIC` names every public optimizer with the
paper's settings, :data:`OPTIONS` the same optimizers with the options (ladder, skipping, Polyak
start, nonmonotone) and :func:`sls_jax.adam_sls_skip`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import sls_jax

__all__ = [
    "ADAM_B1_0",
    "OPTIONS",
    "PUBLIC",
    "SPECS",
    "Spec",
    "pla_sls_alternate",
    "Problem",
    "alternate_labels",
    "flat",
    "ill_conditioned_quadratic",
    "logistic_data",
    "logistic_regression",
    "mlp",
    "quadratic",
    "rosenbrock",
]


@dataclasses.dataclass(frozen=True)
class Problem:
    """A test problem.

    Attributes:
      name: short name for test ids.
      params: initial parameters, a dict pytree.
      value_fn: ``value_fn(params, *, batch) -> scalar loss``.
      batches: the batches of a run; step ``k`` uses ``batches[k % len(batches)]``.
      min_value: the minimum of the full objective where it is known (``None`` otherwise).
    """

    name: str
    params: Any
    value_fn: Callable[..., jax.Array]
    batches: tuple[Any, ...]
    min_value: float | None = None

    def batch(self, k: int) -> Any:
        return self.batches[k % len(self.batches)]


def flat(tree: Any) -> jax.Array:
    """The leaves of ``tree`` concatenated into one vector, in ``jax.tree.leaves`` order."""
    return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


def _quadratic_value(params: Any, *, batch: Any) -> jax.Array:
    w = flat(params)
    return 0.5 * jnp.sum(batch["h"] * jnp.square(w - batch["target"]))


def quadratic(dtype: Any = jnp.float32, *, curvatures: Any = None) -> Problem:
    """``0.5 * sum(h * (w - target)**2)`` with params ``{"x": (3,), "y": (2,)}``.

    Default curvatures ``h = (1, 2, 3, 4, 5)``; the target is ``(1, -2, 3, -4, 5) / 2``; the start
    is zero. The batch holds ``h`` and ``target``; minimum 0.
    """
    h = np.arange(1.0, 6.0) if curvatures is None else np.asarray(curvatures, np.float64)
    target = np.array([1.0, -2.0, 3.0, -4.0, 5.0]) / 2.0
    params = {"x": jnp.zeros(3, dtype), "y": jnp.zeros(2, dtype)}
    batch = {"h": jnp.asarray(h, dtype), "target": jnp.asarray(target, dtype)}
    return Problem("quadratic", params, _quadratic_value, (batch,), 0.0)


def ill_conditioned_quadratic(dtype: Any = jnp.float32) -> Problem:
    """:func:`quadratic` with curvatures ``logspace(0, 3, 5)`` (condition number 1000)."""
    problem = quadratic(dtype, curvatures=np.logspace(0.0, 3.0, 5))
    return dataclasses.replace(problem, name="ill_conditioned_quadratic")


def _rosenbrock_value(params: Any, *, batch: Any) -> jax.Array:
    x, y = params["x"], params["y"]
    return jnp.sum(jnp.square(batch["a"] - x) + batch["b"] * jnp.square(y - jnp.square(x)))


def rosenbrock(dtype: Any = jnp.float32) -> Problem:
    """Rosenbrock ``(a - x)**2 + b (y - x**2)**2``, ``a = 1``, ``b = 100``, from ``(-1.2, 1)``."""
    params = {"x": jnp.full([1], -1.2, dtype), "y": jnp.full([1], 1.0, dtype)}
    batch = {"a": jnp.asarray(1.0, dtype), "b": jnp.asarray(100.0, dtype)}
    return Problem("rosenbrock", params, _rosenbrock_value, (batch,), 0.0)


def _logistic_value(params: Any, *, batch: Any) -> jax.Array:
    logits = batch["x"] @ params["w"] + params["b"]
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, batch["y"]))


def logistic_data(dtype: Any = jnp.float32, *, n: int = 256, d: int = 5) -> dict[str, jax.Array]:
    """The full data set of :func:`logistic_regression`: ``{"x": (n, d), "y": (n,)}``.

    Labels are ``1[x @ w_true + 0.5 + noise > 0]`` with Gaussian noise of scale 1, so the data are
    not separable and the minimum loss is positive.
    """
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((n, d))
    w_true = np.linspace(-2.0, 2.0, d)
    y = (x @ w_true + 0.5 + rng.standard_normal(n) > 0).astype(np.float64)
    return {"x": jnp.asarray(x, dtype), "y": jnp.asarray(y, dtype)}


def logistic_regression(
    dtype: Any = jnp.float32, *, batch_size: int = 64, n: int = 256, d: int = 5
) -> Problem:
    """Logistic regression, params ``{"w": (d,), "b": ()}`` from zero, minibatches in order."""
    data = logistic_data(dtype, n=n, d=d)
    batches = tuple(
        {"x": data["x"][i : i + batch_size], "y": data["y"][i : i + batch_size]}
        for i in range(0, n, batch_size)
    )
    params = {"w": jnp.zeros(d, dtype), "b": jnp.zeros([], dtype)}
    return Problem("logistic_regression", params, _logistic_value, batches)


def _mlp_value(params: Any, *, batch: Any) -> jax.Array:
    hidden = jnp.tanh(batch["x"] @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]))


def mlp(dtype: Any = jnp.float32, *, n: int = 128, batch_size: int = 32) -> Problem:
    """A 4-8-3 tanh MLP on 3 classes (``argmax(x @ T)``), params ``w1, b1, w2, b2``."""
    rng = np.random.default_rng(99)
    x = rng.standard_normal((n, 4))
    y = np.argmax(x @ rng.standard_normal((4, 3)), axis=1)
    params = {
        "w1": jnp.asarray(rng.uniform(-0.5, 0.5, (4, 8)), dtype),
        "b1": jnp.zeros(8, dtype),
        "w2": jnp.asarray(rng.uniform(-0.35, 0.35, (8, 3)), dtype),
        "b2": jnp.zeros(3, dtype),
    }
    batches = tuple(
        {"x": jnp.asarray(x[i : i + batch_size], dtype), "y": jnp.asarray(y[i : i + batch_size])}
        for i in range(0, n, batch_size)
    )
    return Problem("mlp", params, _mlp_value, batches)


def alternate_labels(params: Any, num_groups: int = 2) -> Any:
    """Label tree: leaf ``i`` (in ``jax.tree.leaves`` order) gets the label ``i % num_groups``."""
    leaves, treedef = jax.tree.flatten(params)
    return treedef.unflatten([i % num_groups for i in range(len(leaves))])


GROWTH = 2.0 ** (1.0 / 500)  # the reference growth per step, 2 ** (1 / 500)


@dataclasses.dataclass(frozen=True)
class Spec:
    """An optimizer of the common suite and the constants a hand computation needs."""

    name: str
    make: Callable[..., optax.GradientTransformationExtraArgs]  # (**overrides) -> optimizer
    kind: str  # "identity" (SGD), "adam" (ADAMSLS/PLASLS) or "salsa"
    c: float
    init_step_size: float
    growth: float
    backtrack: float
    momentum: bool  # the applied step uses m_hat (differs from the accepted trial point)
    num_groups: int  # groups on a two-leaf problem
    ladder: int = 1  # trials per value_fn call (the ladder option)
    base: str = ""  # the public optimizer an option modifies ("" for a public one)
    skips: bool = False  # search skipping: steps without a trial (SPEED_UP) store grown sizes
    polyak: bool = False  # first trial polyak_max * b**l (Polyak start with its cap binding)

    @property
    def family(self) -> str:
        """The public optimizer whose measured tolerances apply (itself, or its base)."""
        return self.base or self.name


def pla_sls_alternate(**kwargs):
    return sls_jax.pla_sls(alternate_labels, **kwargs)


#: Cap of the Polyak first trial of ``adam_sls_polyak`` in runs (PoNoS's eta_max).
POLYAK_MAX = 10.0


def adam_sls_polyak(**kwargs):
    """ADAMSLS with the Polyak first trial whose cap ``polyak_max`` always binds (``c_p = 1e-6``).

    Given ``init_step_size``, the cap is ``init_step_size * growth``: the first trial of step 0
    is the grown step size, as in the paper's search, so the single-update hand computations
    hold. Otherwise (runs) the cap is :data:`POLYAK_MAX`, so that searches backtrack. Later
    first trials are ``cap * backtrack**l`` with ``l`` the remembered backtracks.
    """
    if "init_step_size" in kwargs:
        cap = kwargs["init_step_size"] * kwargs.get("growth_factor", GROWTH)
    else:
        cap = POLYAK_MAX
    return _adam_sls_reference(polyak=1e-6, polyak_max=cap, **kwargs)


# The suite's hand computations follow the reference search (one reduction factor throughout);
# adam_sls's default cheaper first search has tests of its own.
_adam_sls_reference = functools.partial(sls_jax.adam_sls, first_backtrack_factor=None)


_SLS = {"c": 0.1, "init_step_size": 0.1, "growth": GROWTH, "backtrack": 0.9}
_SALSA = {"c": 0.5, "init_step_size": 1.0, "growth": 1.1, "backtrack": 0.8}
SPECS = {
    s.name: s
    for s in [
        Spec("sgd_sls", sls_jax.sgd_sls, "identity", momentum=False, num_groups=1, **_SLS),
        Spec("adam_sls", _adam_sls_reference, "adam", momentum=True, num_groups=1, **_SLS),
        Spec(
            "adam_sls_smooth",
            functools.partial(_adam_sls_reference, smooth=True, c=0.5),
            "adam",
            momentum=True,
            num_groups=1,
            **{**_SLS, "c": 0.5},
        ),
        Spec("pla_sls", pla_sls_alternate, "adam", momentum=True, num_groups=2, **_SLS),
        Spec("salsa", sls_jax.salsa, "salsa", momentum=True, num_groups=1, **_SALSA),
        Spec(
            "salsa_no_speed_up",
            functools.partial(sls_jax.salsa, speed_up=False),
            "salsa",
            momentum=True,
            num_groups=1,
            **_SALSA,
        ),
    ]
}
#: The public optimizers and their settings of the paper; every common test runs over these.
PUBLIC = tuple(SPECS)
# The options (every alias takes them), registered under their own names.
OPTIONS = (
    Spec(
        "adam_sls_ladder",
        functools.partial(_adam_sls_reference, ladder=3),
        "adam",
        momentum=True,
        num_groups=1,
        ladder=3,
        base="adam_sls",
        **_SLS,
    ),
    Spec(
        "adam_sls_skip2",
        functools.partial(_adam_sls_reference, skip_searches=2),
        "adam",
        momentum=True,
        num_groups=1,
        base="adam_sls",
        skips=True,
        **_SLS,
    ),
    Spec(  # the public alias (c = 0.5, skip_searches=3) with the reference first search
        "adam_sls_skip",
        functools.partial(sls_jax.adam_sls_skip, first_backtrack_factor=None),
        "adam",
        momentum=True,
        num_groups=1,
        base="adam_sls",
        skips=True,
        **{**_SLS, "c": 0.5},
    ),
    Spec(
        "adam_sls_polyak",
        adam_sls_polyak,
        "adam",
        momentum=True,
        num_groups=1,
        base="adam_sls",
        polyak=True,
        **_SLS,
    ),
    Spec(
        "sgd_sls_nonmonotone",
        functools.partial(sls_jax.sgd_sls, nonmonotone=0.5),
        "identity",
        momentum=False,
        num_groups=1,
        base="sgd_sls",
        **_SLS,
    ),
    Spec(
        "salsa_ladder",
        functools.partial(sls_jax.salsa, ladder=4),
        "salsa",
        momentum=True,
        num_groups=1,
        ladder=4,
        base="salsa",
        **_SALSA,
    ),
)
SPECS.update({s.name: s for s in OPTIONS})
OPTIONS = tuple(s.name for s in OPTIONS)
# Only for the Armijo test: ADAMSLS without momentum, whose accepted trial point is the step.
ADAM_B1_0 = Spec(
    "adam_sls_b1_0",
    functools.partial(_adam_sls_reference, b1=0.0),
    "adam",
    momentum=False,
    num_groups=1,
    **_SLS,
)
