"""M5: a 1-D CNN on raw waveforms (Dai et al., 2017, "Very deep convolutional neural
networks for raw waveforms", arXiv:1610.00087).

M5 is a wide first convolution (kernel 80, stride 4: a learned filterbank with a 5 ms
receptive field at 16 kHz) followed by three conv/pool blocks of kernel 3, with
4x max pooling after every conv, global average pooling and a linear head. As in
:mod:`audiojax.models.cnn`, GroupNorm stands in for the paper's BatchNorm (params
stay one stateless pytree) and pooling is :func:`audiojax.models.cnn.max_pool`; the
dropout and linear head, :meth:`~audiojax.models.backbone.Backbone.embed` and the
input check come from :mod:`audiojax.models.backbone`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax

from audiojax.models.backbone import Backbone, apply_head, check_input
from audiojax.models.cnn import max_pool


class M5(Backbone):
  """The M5 raw-waveform classifier.

  Input ``[batch, samples, 1]`` (waveform in [-1, 1], e.g. 32000 samples for 2 s at
  16 kHz). With the defaults the time axis shrinks by 4 (stride) x 4^4 (pools) =
  1024, so 32000 samples leave 31 frames for the global pool. The embedding
  (:meth:`embed`) is that global average ``[batch, channels[-1]]``.

  Attributes:
    num_classes: size of the logits.
    channels: output channels of the first (wide) conv and the following convs.
    first_kernel: kernel size of the first conv (80 in the paper).
    first_stride: its stride (4 in the paper).
    kernel: kernel size of the later convs (3).
    pool: max-pool size after each conv (4).
    norm_groups: GroupNorm groups (reduced to divide the channels).
    dropout_rate: dropout before the head, active only with ``train=True``.
  """

  channels: Sequence[int] = (128, 128, 256, 512)
  first_kernel: int = 80
  first_stride: int = 4
  kernel: int = 3
  pool: int = 4
  norm_groups: int = 8

  @nn.compact
  def __call__(
    self, x: jax.Array, *, train: bool = False, return_embedding: bool = False
  ) -> jax.Array:
    """Returns logits ``[batch, num_classes]`` (or the embedding, see :meth:`embed`).

    Args:
      x: waveform ``[batch, samples, 1]``.
      train: enables dropout (needs the ``"dropout"`` rng).
      return_embedding: return the pooled features instead of the logits.
    """
    check_input(x, 3, "[batch, samples, 1]", "M5")
    if x.shape[-1] != 1:
      raise ValueError(f"M5 expects one input channel, got shape {x.shape}")
    h = x
    for i, features in enumerate(self.channels):
      first = i == 0
      h = nn.Conv(
        features,
        (self.first_kernel if first else self.kernel,),
        strides=(self.first_stride if first else 1,),
        use_bias=False,  # GroupNorm's shift follows immediately.
        name=f"block{i}_conv",
      )(h)
      groups = math.gcd(self.norm_groups, features)
      h = nn.GroupNorm(num_groups=groups, name=f"block{i}_norm")(h)
      h = nn.relu(h)
      h = max_pool(h, (self.pool,))
    embedding = h.mean(axis=1)
    return apply_head(self, embedding, train=train, return_embedding=return_embedding)


raw_m5 = functools.partial(M5)
raw_m5_tiny = functools.partial(
  M5, channels=(8, 8, 16, 16), first_kernel=16, norm_groups=4
)
