"""``--pla-groups layers``: one PLASLS group per encoder layer (the Fig. 9 ablation's split)."""

from __future__ import annotations

import argparse
import collections

import jax
import pytest
from flax import nnx

from sls_glue.config import _pla_groups
from sls_glue.train import TrainConfig, _pla_labels, build_model, per_layer_param_labels
from sls_jax._labels import path_to_str, resolve_groups


def _params():
    model, _ = build_model(TrainConfig(model="random:tiny"), num_labels=2)
    return nnx.split(model, nnx.Param, ...)[1]


def _groups_by_prefix(labels, params):
    """{group id: sorted set of the first two path parts of its leaves}."""
    spec = resolve_groups(labels, params)
    paths = [path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    out = collections.defaultdict(set)
    for path, g in zip(paths, spec.leaf_groups):
        parts = path.split("/")
        out[spec.names[g]].add("/".join(parts[:3] if parts[0] == "encoder" else parts[:1]))
    return {k: sorted(v) for k, v in out.items()}


def test_layers_split_puts_embeddings_first_and_head_last():
    params = _params()  # random:tiny has 2 encoder layers
    groups = _groups_by_prefix(_pla_labels(TrainConfig(pla_groups="layers"), params), params)
    assert groups == {
        0: ["embeddings", "encoder/layers/0"],
        1: ["classifier", "encoder/layers/1"],
    }


def test_number_split_gives_embeddings_and_head_their_own_groups():
    params = _params()
    groups = _groups_by_prefix(_pla_labels(TrainConfig(pla_groups=8), params), params)
    assert groups == {  # capped at 2 layers + 2
        0: ["embeddings"],
        1: ["encoder/layers/0"],
        2: ["encoder/layers/1"],
        3: ["classifier"],
    }


def test_layers_split_rejects_a_deeper_tree():
    params = _params()
    with pytest.raises(ValueError, match="encoder layer 1, beyond 1"):
        per_layer_param_labels(1)(params)


def test_pla_groups_flag_accepts_layers():
    assert _pla_groups("layers") == "layers"
    assert _pla_groups("qkv") == "qkv"
    assert _pla_groups("4") == 4
    with pytest.raises(argparse.ArgumentTypeError, match="'layers'"):
        _pla_groups("layer")
