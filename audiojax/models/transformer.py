"""A patch transformer over log-mel spectrograms, after AST (Gong et al., 2021, "AST:
Audio Spectrogram Transformer", arXiv:2104.01778) and ViT (Dosovitskiy et al., 2021).

The spectrogram is cut into non-overlapping patches (a strided convolution), a
learned positional embedding sized from the input shape at init and a CLS token are
added, and pre-LN transformer blocks (attention and MLP, each with a residual) encode
the tokens; the head reads the CLS token or the mean of the patch tokens. Unlike AST,
patches do not overlap (4-6x fewer tokens, which is what makes it trainable on a CPU)
and there is no ImageNet initialisation. A LayerNorm on the patch embeddings makes
the model insensitive to the input's scale (dB or natural log). The dropout and
linear head, :meth:`~audiojax.models.backbone.Backbone.embed` and the input check
come from :mod:`audiojax.models.backbone`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.models.backbone import Backbone, apply_head, check_input


class EncoderBlock(nn.Module):
  """Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

  num_heads: int
  mlp_ratio: int = 4
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Maps tokens ``[batch, tokens, dim]`` to the same shape."""
    dim = x.shape[-1]
    drop = lambda h: nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    h = nn.LayerNorm(name="norm1")(x)
    h = nn.MultiHeadDotProductAttention(
      self.num_heads,
      dropout_rate=self.dropout_rate,
      deterministic=not train,
      name="attention",
    )(h, h)
    x = x + drop(h)
    h = nn.LayerNorm(name="norm2")(x)
    h = nn.Dense(self.mlp_ratio * dim, name="mlp_in")(h)
    h = drop(nn.gelu(h))
    h = nn.Dense(dim, name="mlp_out")(h)
    return x + drop(h)


class PatchTransformer(Backbone):
  """AST-like classifier on non-overlapping spectrogram patches.

  Input ``[batch, frames, n_mels]``; frames and mels are cropped to whole patches
  (126 x 64 with 16 x 16 patches gives 7 x 4 = 28 tokens). The positional embedding
  is created at init for the input's number of patches; applying the params to a
  different patch grid raises a ValueError. The embedding (:meth:`embed`) is the
  CLS token or the patch mean after the final LayerNorm, ``[batch, dim]``.

  Attributes:
    num_classes: size of the logits.
    patch_size: ``(frames, mels)`` per patch.
    dim: token width.
    depth: number of transformer blocks.
    num_heads: attention heads (must divide ``dim``).
    mlp_ratio: MLP hidden width / ``dim``.
    dropout_rate: dropout on embeddings, attention, MLP and before the head
      (active only with ``train=True``).
    pool: ``"cls"`` (read the CLS token) or ``"mean"`` (average the patch tokens).
  """

  # Overrides the base default; as a redeclared field it keeps the base's position.
  dropout_rate: float = 0.1
  patch_size: Sequence[int] = (16, 16)
  dim: int = 192
  depth: int = 4
  num_heads: int = 3
  mlp_ratio: int = 4
  pool: str = "cls"

  @nn.compact
  def __call__(
    self, x: jax.Array, *, train: bool = False, return_embedding: bool = False
  ) -> jax.Array:
    """Returns logits ``[batch, num_classes]`` (or the embedding, see :meth:`embed`).

    Args:
      x: log-mel spectrogram ``[batch, frames, n_mels]``.
      train: enables dropout (needs the ``"dropout"`` rng).
      return_embedding: return the pooled features instead of the logits.
    """
    check_input(x, 3, "[batch, frames, n_mels]", "PatchTransformer")
    if self.pool not in ("cls", "mean"):
      raise ValueError(f"pool must be 'cls' or 'mean', got {self.pool!r}")
    patch = tuple(self.patch_size)
    grid = tuple(n // p for n, p in zip(x.shape[1:], patch, strict=True))
    if min(grid) < 1:
      raise ValueError(
        f"input {x.shape[1:]} (frames, mels) is smaller than one patch {patch}"
      )
    # A strided VALID conv is a linear map of each patch; it crops partial patches.
    h = nn.Conv(self.dim, patch, strides=patch, padding="VALID", name="patch_embed")(
      x[..., None]
    )
    h = nn.LayerNorm(name="patch_norm")(h.reshape(x.shape[0], -1, self.dim))
    cls = self.param("cls", nn.initializers.zeros, (1, 1, self.dim))
    h = jnp.concatenate([jnp.broadcast_to(cls, (h.shape[0], 1, self.dim)), h], axis=1)
    if self.has_variable("params", "pos_embed"):
      stored = self.get_variable("params", "pos_embed").shape[1] - 1
      if stored != h.shape[1] - 1:
        raise ValueError(
          f"PatchTransformer params were built for {stored} patches, the input "
          f"{x.shape[1:]} gives {grid[0]} x {grid[1]} = {h.shape[1] - 1}"
        )
    pos = self.param(
      "pos_embed", nn.initializers.normal(stddev=0.02), (1, h.shape[1], self.dim)
    )
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h + pos)
    for i in range(self.depth):
      h = EncoderBlock(
        self.num_heads, self.mlp_ratio, self.dropout_rate, name=f"block{i}"
      )(h, train=train)
    h = nn.LayerNorm(name="norm")(h)
    embedding = h[:, 0] if self.pool == "cls" else h[:, 1:].mean(axis=1)
    return apply_head(self, embedding, train=train, return_embedding=return_embedding)


patch_transformer = functools.partial(PatchTransformer)
patch_transformer_tiny = functools.partial(
  PatchTransformer, patch_size=(4, 4), dim=16, depth=1, num_heads=2, mlp_ratio=2
)
