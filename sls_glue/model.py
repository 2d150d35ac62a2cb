"""Flax NNX BERT for sequence classification.

The architecture follows the HuggingFace ``BertModel`` (post-LayerNorm BERT) that
Kenneweg et al. (2023), "Faster Convergence for Transformer Fine-tuning with Line
Search Methods", fine-tune on GLUE: token/position/token-type embeddings with a
LayerNorm, ``N`` encoder layers (self-attention, residual + LayerNorm, GELU
feed-forward, residual + LayerNorm), then the final hidden state of the first
token ([CLS], the default) or the mean of the final hidden states over the real tokens
(``pooling="mean"``, as sentence-transformers checkpoints such as all-MiniLM-L6-v2 were trained)
-> optional pooler (dense + tanh, OFF by default) -> one linear classifier to ``num_labels``
logits.

Dropout is OFF by default (rate 0.0; the paper's runs used none). When enabled it
is driven only by the explicit ``dropout_key`` argument of ``__call__``/``encode``:
every dropout site derives its own key from it with ``jax.random.fold_in``, so a
line-search optimizer that evaluates the loss several times per step sees the same
masks for the same key. ``dropout_key=None`` means no dropout (evaluation). The
module keeps no RNG state; the ``hidden_dropout_prob`` and
``attention_probs_dropout_prob`` fields of :class:`BertConfig` are recorded but not
used -- the constructor's ``dropout_rate`` applies to every dropout site.

Parameter paths (``nnx.state(model, nnx.Param)``; ``H`` = hidden_size,
``I`` = intermediate_size, kernels are ``(in_features, out_features)``, i.e. the
transpose of PyTorch's ``Linear.weight``)::

    embeddings.word_embeddings.embedding          (vocab_size, H)
    embeddings.position_embeddings.embedding      (max_position_embeddings, H)
    embeddings.token_type_embeddings.embedding    (type_vocab_size, H)
    embeddings.layer_norm.{scale,bias}            (H,)
    encoder.layers.<i>.attention.query.{kernel,bias}   (H, H), (H,)
    encoder.layers.<i>.attention.key.{kernel,bias}     (H, H), (H,)
    encoder.layers.<i>.attention.value.{kernel,bias}   (H, H), (H,)
    encoder.layers.<i>.attention.output.{kernel,bias}  (H, H), (H,)
    encoder.layers.<i>.attention.layer_norm.{scale,bias}   (H,)
    encoder.layers.<i>.intermediate.{kernel,bias}      (H, I), (I,)
    encoder.layers.<i>.output.{kernel,bias}            (I, H), (H,)
    encoder.layers.<i>.output_layer_norm.{scale,bias}  (H,)
    pooler.{kernel,bias}                          (H, H), (H,)   only if use_pooler
    classifier.{kernel,bias}                      (H, num_labels), (num_labels,)

``<i>`` is an ``int`` path entry (``encoder.layers`` is an ``nnx.List``). Label
functions can rely on: leaf name ``bias`` / ``scale`` / ``kernel`` / ``embedding``,
any path containing ``layer_norm`` / ``output_layer_norm`` being a LayerNorm, and
the top-level keys ``embeddings``, ``encoder``, ``pooler``, ``classifier``.

HF tensor-name mapping (used by :mod:`sls_glue.checkpoint`): ``attention.self.query``
-> ``attention.query`` (same for key/value), ``attention.output.dense`` ->
``attention.output``, ``attention.output.LayerNorm`` -> ``attention.layer_norm``,
``intermediate.dense`` -> ``intermediate``, ``output.dense`` -> ``output``,
``output.LayerNorm`` -> ``output_layer_norm``, ``pooler.dense`` -> ``pooler``.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = [
    "ACTIVATIONS",
    "POOLING",
    "BertConfig",
    "BertForSequenceClassification",
    "normal_init",
    "pool_hidden",
]

#: Sentence representations the classifier head can read: the first token's final hidden state
#: (``"cls"``, BERT's [CLS]) or the mean of the final hidden states over the real tokens
#: (``"mean"``, special tokens included, padding excluded; sentence-transformers' mean pooling).
POOLING = ("cls", "mean")

#: Additive attention-mask value for masked keys. The attention scores and the
#: softmax are always computed in float32 (also for bf16/fp16 models), so -1e9 is
#: representable, dwarfs any real score, and a fully masked row stays finite
#: (it degenerates to a uniform softmax instead of NaN).
MASK_VALUE = -1e9

#: ``hidden_act`` values understood by the model (HF names).
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),  # exact erf GELU, as HF "gelu"
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_fast": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """BERT hyper-parameters, with the HuggingFace ``config.json`` field names.

    ``hidden_dropout_prob`` / ``attention_probs_dropout_prob`` are kept for
    reference only; the model's dropout rate is a constructor argument.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"BertConfig.{name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) is not a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"unsupported hidden_act {self.hidden_act!r}; known: {sorted(ACTIVATIONS)}"
            )
        if not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")

    @property
    def head_dim(self) -> int:
        """Per-head width, ``hidden_size // num_attention_heads``."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BertConfig:
        """Builds a config from a (HF ``config.json``) mapping, ignoring unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (HF field names)."""
        return dataclasses.asdict(self)

    @classmethod
    def tiny(cls) -> BertConfig:
        """A 2-layer, width-32, 2-head, intermediate-64 config (BERT vocab) for tests."""
        return cls(
            vocab_size=30522,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            type_vocab_size=2,
        )


def pool_hidden(hidden: jax.Array, attention_mask: jax.Array, pooling: str) -> jax.Array:
    """The sentence representation of every row of a batch.

    Args:
      hidden: final hidden states, ``(batch, seq, hidden)``, any float dtype.
      attention_mask: ``(batch, seq)``, 1 (or True) for real tokens, 0 for padding.
      pooling: ``"cls"``: ``hidden[:, 0]``; ``"mean"``: ``sum_t m_t h_t / max(sum_t m_t, 1)``,
        summed in float32 (a row without real tokens gives zeros, not NaN).

    Returns:
      ``(batch, hidden)`` in the dtype of ``hidden``.

    Raises:
      ValueError: ``pooling`` not in :data:`POOLING`.
    """
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        mask = attention_mask.astype(jnp.float32)[:, :, None]
        total = jnp.sum(hidden.astype(jnp.float32) * mask, axis=1)
        return (total / jnp.maximum(jnp.sum(mask, axis=1), 1.0)).astype(hidden.dtype)
    raise ValueError(f"pooling must be one of {POOLING}, got {pooling!r}")


def normal_init(stddev: float = 0.02) -> nnx.Initializer:
    """HF-style init for dense/embedding weights: ``normal(0, stddev)``."""
    return nnx.initializers.normal(stddev=stddev)


def _fold(key: jax.Array | None, index: int) -> jax.Array | None:
    """Deterministic per-site key: ``fold_in(key, index)`` (``None`` stays ``None``)."""
    return None if key is None else jax.random.fold_in(key, index)


def _dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout of ``x`` (any shape/dtype) with an explicit key.

    Identity when ``key`` is ``None`` or ``rate == 0``. Same key -> same mask.
    """
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros((), x.dtype))


class _Common:
    """Constructor kwargs shared by all sub-modules (dtype handling + init)."""

    def __init__(self, config: BertConfig, rngs: nnx.Rngs, dtype: Any, param_dtype: Any) -> None:
        self.rngs = rngs
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.eps = config.layer_norm_eps
        self.init = normal_init(config.initializer_range)

    def linear(self, n_in: int, n_out: int) -> nnx.Linear:
        return nnx.Linear(
            n_in,
            n_out,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=self.init,
            bias_init=nnx.initializers.zeros_init(),
            rngs=self.rngs,
        )

    def layer_norm(self, n: int) -> nnx.LayerNorm:
        # use_fast_variance=False: E[(x - mean)^2] like PyTorch (statistics in float32).
        return nnx.LayerNorm(
            n,
            epsilon=self.eps,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            use_fast_variance=False,
            rngs=self.rngs,
        )

    def embed(self, n: int, features: int) -> nnx.Embed:
        return nnx.Embed(
            n,
            features,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            embedding_init=self.init,
            rngs=self.rngs,
        )


class BertEmbeddings(nnx.Module):
    """word + position + token-type embeddings, then LayerNorm (and dropout)."""

    def __init__(self, config: BertConfig, common: _Common) -> None:
        h = config.hidden_size
        self.word_embeddings = common.embed(config.vocab_size, h)
        self.position_embeddings = common.embed(config.max_position_embeddings, h)
        self.token_type_embeddings = common.embed(config.type_vocab_size, h)
        self.layer_norm = common.layer_norm(h)

    def __call__(
        self,
        input_ids: jax.Array,
        token_type_ids: jax.Array,
        *,
        dropout_rate: float,
        dropout_key: jax.Array | None,
    ) -> jax.Array:
        """``(batch, seq)`` int ids -> ``(batch, seq, hidden)`` in the compute dtype."""
        seq = input_ids.shape[1]
        positions = jnp.arange(seq, dtype=jnp.int32)[None, :]
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )
        x = self.layer_norm(x)
        return _dropout(x, dropout_rate, dropout_key)


class BertSelfAttention(nnx.Module):
    """Multi-head self-attention with its output dense + residual LayerNorm."""

    def __init__(self, config: BertConfig, common: _Common) -> None:
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.query = common.linear(h, h)
        self.key = common.linear(h, h)
        self.value = common.linear(h, h)
        self.output = common.linear(h, h)
        self.layer_norm = common.layer_norm(h)

    def __call__(
        self,
        x: jax.Array,
        mask_bias: jax.Array,
        *,
        dropout_rate: float,
        dropout_key: jax.Array | None,
    ) -> jax.Array:
        """Self-attention block.

        Args:
          x: ``(batch, seq, hidden)`` in the compute dtype.
          mask_bias: ``(batch, 1, 1, seq)`` float32, 0 for real keys and
            :data:`MASK_VALUE` for padding keys.
          dropout_rate: dropout rate on attention probabilities and the output.
          dropout_key: key for this block, or ``None`` (no dropout).

        Returns:
          ``LayerNorm(x + dense(attention(x)))``, ``(batch, seq, hidden)``.
        """
        b, s, h = x.shape
        # Heads before the sequence axis, (batch, heads, seq, head_dim): on CPU this layout makes
        # the two attention matmuls 14-25% faster for the whole forward than (batch, seq, heads,
        # head_dim) (benchmarks/forward_gap.py, variant attn_bnsd).
        heads = lambda t: t.reshape(b, s, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        q = heads(self.query(x))
        k = heads(self.key(x))
        v = heads(self.value(x))
        q = q * jnp.asarray(1.0 / math.sqrt(self.head_dim), q.dtype)
        # Scores and softmax in float32 whatever the compute dtype.
        scores = jnp.einsum("bnqd,bnkd->bnqk", q, k, preferred_element_type=jnp.float32)
        probs = jax.nn.softmax(scores + mask_bias, axis=-1).astype(v.dtype)
        probs = _dropout(probs, dropout_rate, _fold(dropout_key, 0))
        ctx = jnp.einsum("bnqk,bnkd->bnqd", probs, v).transpose(0, 2, 1, 3).reshape(b, s, h)
        out = _dropout(self.output(ctx), dropout_rate, _fold(dropout_key, 1))
        return self.layer_norm(x + out)


class BertLayer(nnx.Module):
    """One post-LN transformer encoder layer."""

    def __init__(self, config: BertConfig, common: _Common) -> None:
        self.attention = BertSelfAttention(config, common)
        self.intermediate = common.linear(config.hidden_size, config.intermediate_size)
        self.output = common.linear(config.intermediate_size, config.hidden_size)
        self.output_layer_norm = common.layer_norm(config.hidden_size)
        self.activation = config.hidden_act

    def __call__(
        self,
        x: jax.Array,
        mask_bias: jax.Array,
        *,
        dropout_rate: float,
        dropout_key: jax.Array | None,
    ) -> jax.Array:
        """``(batch, seq, hidden)`` -> ``(batch, seq, hidden)``, compute dtype."""
        x = self.attention(
            x, mask_bias, dropout_rate=dropout_rate, dropout_key=_fold(dropout_key, 0)
        )
        y = ACTIVATIONS[self.activation](self.intermediate(x))
        y = _dropout(self.output(y), dropout_rate, _fold(dropout_key, 1))
        return self.output_layer_norm(x + y)


class BertEncoder(nnx.Module):
    """A stack of :class:`BertLayer` in ``self.layers`` (an ``nnx.List``)."""

    def __init__(self, config: BertConfig, common: _Common) -> None:
        self.layers = nnx.List([BertLayer(config, common) for _ in range(config.num_hidden_layers)])

    def __call__(
        self,
        x: jax.Array,
        mask_bias: jax.Array,
        *,
        dropout_rate: float,
        dropout_key: jax.Array | None,
    ) -> jax.Array:
        """``(batch, seq, hidden)`` -> ``(batch, seq, hidden)``, compute dtype."""
        for i, layer in enumerate(self.layers):
            x = layer(x, mask_bias, dropout_rate=dropout_rate, dropout_key=_fold(dropout_key, i))
        return x


class BertForSequenceClassification(nnx.Module):
    """BERT encoder + [CLS] or mean pooling (optional pooler) + linear classifier head.

    Args:
      config: architecture hyper-parameters.
      num_labels: number of output logits (``>= 1``; 1 for regression, e.g. STS-B).
      pooling: the head's input, ``"cls"`` (default, the paper's) or ``"mean"`` over the real
        tokens; see :func:`pool_hidden`.
      use_pooler: put HF's pooler (dense + tanh) between the pooled vector and the head.
      dropout_rate: dropout rate for every dropout site (embeddings output,
        attention probabilities, attention output, feed-forward output, classifier
        input); only active when a ``dropout_key`` is passed. Default 0.0.
      rngs: initialisation randomness (consumed only in ``__init__``).
      dtype: compute dtype (e.g. ``jnp.bfloat16``); LayerNorm statistics and the
        attention softmax are always float32.
      param_dtype: parameter storage dtype.
    """

    def __init__(
        self,
        config: BertConfig,
        num_labels: int,
        *,
        pooling: str = "cls",
        use_pooler: bool = False,
        dropout_rate: float = 0.0,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
        param_dtype: Any = jnp.float32,
    ) -> None:
        if isinstance(num_labels, bool) or operator.index(num_labels) < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        num_labels = operator.index(num_labels)
        if not 0.0 <= float(dropout_rate) < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
        if pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}, got {pooling!r}")
        common = _Common(config, rngs, dtype, param_dtype)
        self.config = config
        self.num_labels = num_labels
        self.pooling = pooling
        self.use_pooler = bool(use_pooler)
        self.dropout_rate = float(dropout_rate)
        self.dtype = dtype
        self.embeddings = BertEmbeddings(config, common)
        self.encoder = BertEncoder(config, common)
        self.pooler = common.linear(config.hidden_size, config.hidden_size) if use_pooler else None
        self.classifier = common.linear(config.hidden_size, num_labels)

    def _check_inputs(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None,
        token_type_ids: jax.Array | None,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        input_ids = jnp.asarray(input_ids)
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be (batch, seq), got shape {input_ids.shape}")
        if not jnp.issubdtype(input_ids.dtype, jnp.integer):
            raise ValueError(f"input_ids must be integers, got {input_ids.dtype}")
        seq = input_ids.shape[1]
        if seq > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {seq} exceeds max_position_embeddings "
                f"{self.config.max_position_embeddings}"
            )
        if attention_mask is None:
            attention_mask = jnp.ones(input_ids.shape, jnp.int32)
        if token_type_ids is None:
            token_type_ids = jnp.zeros(input_ids.shape, jnp.int32)
        attention_mask = jnp.asarray(attention_mask)
        token_type_ids = jnp.asarray(token_type_ids)
        for name, arr in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if arr.shape != input_ids.shape:
                raise ValueError(
                    f"{name} shape {arr.shape} does not match input_ids shape {input_ids.shape}"
                )
        if not jnp.issubdtype(token_type_ids.dtype, jnp.integer):
            raise ValueError(f"token_type_ids must be integers, got {token_type_ids.dtype}")
        return input_ids, attention_mask, token_type_ids

    def encode(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
    ) -> jax.Array:
        """Runs embeddings + encoder.

        Args:
          input_ids: ``(batch, seq)`` int32 token ids.
          attention_mask: ``(batch, seq)``, 1 for real tokens and 0 for padding
            (int or bool); ``None`` = all ones.
          token_type_ids: ``(batch, seq)`` int32 segment ids; ``None`` = zeros.
          dropout_key: PRNG key driving dropout, or ``None`` for no dropout.

        Returns:
          Last hidden state, ``(batch, seq, hidden_size)`` in the compute dtype.
        """
        return self._encode(input_ids, attention_mask, token_type_ids, dropout_key)

    def _encode(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None,
        token_type_ids: jax.Array | None,
        dropout_key: jax.Array | None,
    ) -> jax.Array:
        input_ids, attention_mask, token_type_ids = self._check_inputs(
            input_ids, attention_mask, token_type_ids
        )
        rate = self.dropout_rate
        if rate == 0.0:
            dropout_key = None  # skip deriving (and compiling) per-site keys
        # (batch, 1, 1, seq) float32 additive bias over the key axis.
        mask_bias = jnp.where(attention_mask.astype(bool), 0.0, MASK_VALUE).astype(jnp.float32)
        mask_bias = mask_bias[:, None, None, :]
        x = self.embeddings(
            input_ids, token_type_ids, dropout_rate=rate, dropout_key=_fold(dropout_key, 0)
        )
        return self.encoder(x, mask_bias, dropout_rate=rate, dropout_key=_fold(dropout_key, 1))

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
    ) -> jax.Array:
        """Classification logits.

        Args:
          input_ids: ``(batch, seq)`` int32 token ids.
          attention_mask: ``(batch, seq)``, 1 = real token, 0 = padding; ``None`` = ones.
          token_type_ids: ``(batch, seq)`` int32 segment ids; ``None`` = zeros.
          dropout_key: PRNG key driving dropout, or ``None`` for no dropout. The same
            key always gives the same dropout masks.

        Returns:
          ``(batch, num_labels)`` logits in the compute dtype.
        """
        if self.dropout_rate == 0.0:
            dropout_key = None
        input_ids, attention_mask, token_type_ids = self._check_inputs(
            input_ids, attention_mask, token_type_ids
        )
        hidden = self._encode(input_ids, attention_mask, token_type_ids, dropout_key)
        pooled = pool_hidden(hidden, attention_mask, self.pooling)
        if self.pooler is not None:
            pooled = jnp.tanh(self.pooler(pooled))
        pooled = _dropout(pooled, self.dropout_rate, _fold(dropout_key, 2))
        return self.classifier(pooled)
