"""sls_jax: stochastic Armijo line searches for fine-tuning, as optax transformations.

Optimizers of Kenneweg, Galli, Kenneweg, Hammer, "Faster Convergence for Transformer Fine-tuning
with Line Search Methods" (IJCNN 2023) and the authors' SaLSA package:

* :func:`sgd_sls` -- SGDSLS: SGD direction + Armijo line search (Vaswani et al. 2019).
* :func:`adam_sls` -- ADAMSLS: Adam direction + preconditioned Armijo line search.
* :func:`adam_sls_skip` -- ADAMSLS with search skipping and SaLSA's Armijo constant: the
  cheaper search (about one forward pass per step; not a method of the paper).
* :func:`pla_sls` -- PLASLS: per-layer ADAMSLS, one step size per parameter group.
* :func:`salsa` -- SaLSA: smoothed Adam line search of the PyPI package ``salsa-optimizer``.

Building blocks: :func:`scale_by_sls` (the first three) and :func:`scale_by_salsa`.
"""

from sls_jax._base import LineSearchInfo, SearchStatus
from sls_jax._labels import GroupSpec, label_by_path, resolve_groups
from sls_jax._salsa import ScaleBySaLSAState, salsa, scale_by_salsa
from sls_jax._sls import (
    ScaleBySLSState,
    adam_sls,
    adam_sls_skip,
    pla_sls,
    scale_by_sls,
    sgd_sls,
)

__version__ = "0.1.0"

__all__ = [
    "GroupSpec",
    "LineSearchInfo",
    "ScaleBySLSState",
    "ScaleBySaLSAState",
    "SearchStatus",
    "adam_sls",
    "adam_sls_skip",
    "label_by_path",
    "pla_sls",
    "resolve_groups",
    "salsa",
    "scale_by_salsa",
    "scale_by_sls",
    "sgd_sls",
]
