"""A small VGG-style CNN over log-mel spectrograms, and the max-pool it uses.

The classic keyword-spotting / audio-tagging CNN (conv 3x3 blocks with 2x2 pooling,
global average pooling, a linear head; cf. Hershey et al., 2017, "CNN architectures
for large-scale audio classification", and Kong et al., 2020, PANNs' CNN6), with two
departures that the rest of the library relies on:

* GroupNorm instead of BatchNorm: no running statistics, so params are one plain
  pytree, evaluation equals training, and attacks, genetic algorithms and unlearning
  can treat the model as a pure function of ``(params, x)``.
* Max pooling by strided slices instead of ``flax.linen.max_pool``: the same values
  and gradients, but JAX's CPU backward pass through ``reduce_window`` is about 2x
  slower (see :func:`max_pool`).

The dropout and linear head, :meth:`~audiojax.models.backbone.Backbone.embed` and
the input check are shared with the other backbones in :mod:`audiojax.models.backbone`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.models.backbone import Backbone, apply_head, check_input


def max_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
  """Non-overlapping max pooling by strided slices and ``where``, cropping leftovers.

  Equal to ``nn.max_pool(x, window, strides=window, padding="VALID")`` in value and
  gradient (ties go to the first element, as there), with a faster backward pass on
  CPU. The maximum is a chain of ``where(a >= b, a, b)`` rather than a reshape and
  ``max``: under ``jit`` the reshape-and-max version gave NaN input gradients for
  a small MelCNN on CPU (eager was fine). The backward of ``max`` divides by the
  number of elements equal to the maximum, which is 0 if XLA recomputes the
  activations with different rounding; ``where`` routes each gradient to exactly
  one element and cannot divide by zero. A spatial axis shorter than its window is
  left unpooled instead of cropped to nothing.

  Args:
    x: ``[batch, *spatial, channels]``.
    window: pool size per spatial axis.

  Returns:
    ``[batch, *(size // w), channels]``.
  """
  spatial = x.shape[1:-1]
  if len(window) != len(spatial):
    raise ValueError(f"window {tuple(window)} does not match spatial shape {spatial}")
  for axis, w in enumerate(window, start=1):
    if w > x.shape[axis]:
      continue
    kept = x.shape[axis] - x.shape[axis] % w
    pooled = jax.lax.slice_in_dim(x, 0, kept, stride=w, axis=axis)
    for offset in range(1, w):
      candidate = jax.lax.slice_in_dim(x, offset, kept, stride=w, axis=axis)
      pooled = jnp.where(pooled >= candidate, pooled, candidate)
    x = pooled
  return x


class MelCNN(Backbone):
  """Conv blocks over a log-mel spectrogram, global average pool, linear head.

  Input ``[batch, frames, n_mels]`` (time-major, e.g. 126 frames x 64 mels for 2 s
  at 16 kHz with hop 256); a channel axis is added inside. Each block is
  ``convs_per_block`` x (3x3 conv, GroupNorm, activation) then a 2x2 max pool, so
  every block halves both axes (odd sizes are cropped). The embedding
  (:meth:`embed`) is the global average ``[batch, channels[-1]]``.

  Attributes:
    num_classes: size of the logits.
    channels: output channels of each block.
    convs_per_block: 3x3 convolutions per block.
    norm_groups: GroupNorm groups (reduced to divide the channels).
    dropout_rate: dropout before the head, active only with ``train=True``.
    activation: nonlinearity after each norm.
  """

  channels: Sequence[int] = (32, 64, 128, 256)
  convs_per_block: int = 1
  norm_groups: int = 8
  activation: Callable[[jax.Array], jax.Array] = nn.relu

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
    check_input(x, 3, "[batch, frames, n_mels]", "MelCNN")
    h = x[..., None]
    for i, features in enumerate(self.channels):
      for j in range(self.convs_per_block):
        # No conv bias: GroupNorm's shift follows immediately.
        h = nn.Conv(features, (3, 3), use_bias=False, name=f"block{i}_conv{j}")(h)
        groups = math.gcd(self.norm_groups, features)
        h = nn.GroupNorm(num_groups=groups, name=f"block{i}_norm{j}")(h)
        h = self.activation(h)
      h = max_pool(h, (2, 2))
    embedding = h.mean(axis=(1, 2))
    return apply_head(self, embedding, train=train, return_embedding=return_embedding)


mel_cnn = functools.partial(MelCNN)
mel_cnn_tiny = functools.partial(MelCNN, channels=(8, 16, 32), norm_groups=4)
