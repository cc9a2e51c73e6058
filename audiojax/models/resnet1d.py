"""A 1-D ResNet for sequences: ECG leads or spectra (He et al., 2016, "Deep residual
learning for image recognition", arXiv:1512.03385, with 1-D convolutions as in
Hannun et al., 2019, and the ResNet-34 of Chatterjee et al., 2024).

The layout is the paper's: a stem convolution (stride 2) and max pool, then stages
of basic blocks (two convolutions and an identity or 1x1-projection shortcut), the
first block of every stage after the first halving the length, global average
pooling and the shared head (:mod:`audiojax.models.backbone`). ``resnet1d_18`` and
``resnet1d_34`` have the paper's block counts (2-2-2-2 and 3-4-6-3) and widths
(64-512). GroupNorm stands in for BatchNorm, as in the other backbones, so params
stay one stateless pytree that unlearning can mask and many-model runs can stack;
the last norm of every residual branch starts at zero scale (Goyal et al., 2017), so
each block starts as the identity.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax

from audiojax.models.backbone import Backbone, apply_head, check_input
from audiojax.models.cnn import max_pool


def _norm(features: int, groups: int, name: str, zero: bool = False) -> nn.Module:
  return nn.GroupNorm(
    num_groups=math.gcd(groups, features),
    scale_init=nn.initializers.zeros if zero else nn.initializers.ones,
    name=name,
  )


class BasicBlock(nn.Module):
  """conv-norm-relu-conv-norm plus the shortcut, then relu."""

  features: int
  stride: int
  kernel: int
  norm_groups: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = nn.Conv(self.features, (self.kernel,), (self.stride,), use_bias=False)(x)
    h = nn.relu(_norm(self.features, self.norm_groups, "norm1")(h))
    h = nn.Conv(self.features, (self.kernel,), use_bias=False)(h)
    h = _norm(self.features, self.norm_groups, "norm2", zero=True)(h)
    if self.stride != 1 or x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1,), (self.stride,), use_bias=False, name="proj")(x)
      x = _norm(self.features, self.norm_groups, "proj_norm")(x)
    return nn.relu(h + x)


class ResNet1D(Backbone):
  """ResNet over ``[batch, length, channels]`` (a lead from ``raw`` or a spectrum
  from ``fft``).

  Attributes:
    num_classes: size of the logits.
    stage_blocks: basic blocks per stage.
    widths: channels per stage.
    kernel: kernel size of the block convolutions.
    stem_kernel: kernel of the stride-2 stem convolution.
    norm_groups: GroupNorm groups (reduced to divide the channels).
    dropout_rate: dropout before the head, active only with ``train=True``.
  """

  stage_blocks: Sequence[int] = (2, 2, 2, 2)
  widths: Sequence[int] = (64, 128, 256, 512)
  kernel: int = 7
  stem_kernel: int = 15
  norm_groups: int = 8

  @nn.compact
  def __call__(
    self, x: jax.Array, *, train: bool = False, return_embedding: bool = False
  ) -> jax.Array:
    """Returns logits ``[batch, num_classes]`` (or the embedding, see :meth:`embed`).

    Args:
      x: ``[batch, length, channels]``.
      train: enables dropout (needs the ``"dropout"`` rng).
      return_embedding: return the pooled features instead of the logits.
    """
    check_input(x, 3, "[batch, length, channels]", "ResNet1D")
    if len(self.stage_blocks) != len(self.widths):
      raise ValueError(
        f"stage_blocks {self.stage_blocks} and widths {self.widths} differ in length"
      )
    h = nn.Conv(self.widths[0], (self.stem_kernel,), (2,), use_bias=False)(x)
    h = nn.relu(_norm(self.widths[0], self.norm_groups, "stem_norm")(h))
    h = max_pool(h, (2,))
    for stage, (blocks, features) in enumerate(
      zip(self.stage_blocks, self.widths, strict=True)
    ):
      for b in range(blocks):
        stride = 2 if stage > 0 and b == 0 else 1
        h = BasicBlock(
          features, stride, self.kernel, self.norm_groups, name=f"stage{stage}_{b}"
        )(h)
    embedding = h.mean(axis=1)
    return apply_head(self, embedding, train=train, return_embedding=return_embedding)


resnet1d_18 = functools.partial(ResNet1D)
resnet1d_34 = functools.partial(ResNet1D, stage_blocks=(3, 4, 6, 3))
# Tests and the tour: two stages, eight and sixteen channels; the 34's sibling is
# one block deeper per stage.
resnet1d_18_tiny = functools.partial(
  ResNet1D, stage_blocks=(1, 1), widths=(8, 16), stem_kernel=7, kernel=5, norm_groups=4
)
resnet1d_34_tiny = functools.partial(resnet1d_18_tiny, stage_blocks=(2, 2))
