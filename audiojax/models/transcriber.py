"""A frame-level note transcriber over log-mel spectrograms.

The frame stack of Onsets and Frames (Hawthorne et al., 2018, "Onsets and frames:
dual-objective piano transcription"; itself after Kelz et al., 2016, "On the potential
of simple framewise approaches to piano transcription"), made small: 3x3 conv blocks
over ``(frames, mels)`` that pool only along the mel axis, so every frame keeps its
own column, then one Dense per frame (the embedding) and a per-frame linear head to
one logit per pitch. The logits ``[batch, frames, num_classes]`` are independent
sigmoids (a multi-label "piano roll"), trained with binary cross-entropy.

It is a :class:`~audiojax.models.backbone.Backbone` like the classifiers: the
embedding is the input of one Dense ``params["head"]`` with dropout before it; only
the embedding keeps the frame axis, ``[batch, frames, hidden]`` instead of
``[batch, features]`` (Dense and Dropout act on the last axis, so the shared tail
fits). The tail is written out here rather than through ``backbone.apply_head`` for
one reason: the head's bias starts at the log-odds of ``active_prior`` (the prior
initialisation of Lin et al., 2017, "Focal loss for dense object detection"). With
about 2 of 88 keys sounding in a frame, a zero bias starts the BCE at log 2 and
spends the first hundred steps learning "all keys off"; the prior skips that
plateau. GroupNorm and strided-slice max pooling, as in :mod:`audiojax.models.cnn`,
keep the params one stateless pytree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax

from audiojax.models.backbone import Backbone, check_input
from audiojax.models.cnn import max_pool


class MelTranscriber(Backbone):
  """Conv blocks pooled over mels, a per-frame Dense, per-frame pitch logits.

  Input ``[batch, frames, n_mels]`` (time-major log-mel, e.g. 126 frames for 2 s at
  16 kHz with hop 256); a channel axis is added inside. Each block is
  ``convs_per_block`` x (3x3 conv, GroupNorm, activation) then a (1, 2) max pool:
  the frame axis is never pooled, the mel axis is halved (odd sizes cropped). The
  last block's ``mels x channels`` of each frame go through a Dense of ``hidden``
  units and the activation: the embedding (:meth:`embed`), ``[batch, frames,
  hidden]``.

  Attributes:
    num_classes: pitches, one logit each per frame.
    channels: output channels of each block.
    convs_per_block: 3x3 convolutions per block.
    hidden: width of the per-frame embedding.
    norm_groups: GroupNorm groups (reduced to divide the channels).
    dropout_rate: dropout before the head, active only with ``train=True``.
    activation: nonlinearity after each norm and after the per-frame Dense.
    active_prior: the probability of a key being active the head starts at (2.3 %
      of keys are in the embedded music set's ``small`` training split).
  """

  channels: Sequence[int] = (16, 32, 32)
  convs_per_block: int = 1
  hidden: int = 256
  norm_groups: int = 8
  activation: Callable[[jax.Array], jax.Array] = nn.relu
  active_prior: float = 0.025

  @nn.compact
  def __call__(
    self, x: jax.Array, *, train: bool = False, return_embedding: bool = False
  ) -> jax.Array:
    """Returns logits ``[batch, frames, num_classes]`` (or the embedding).

    Args:
      x: log-mel spectrogram ``[batch, frames, n_mels]``.
      train: enables dropout (needs the ``"dropout"`` rng).
      return_embedding: return the per-frame features instead of the logits.
    """
    check_input(x, 3, "[batch, frames, n_mels]", "MelTranscriber")
    h = x[..., None]
    for i, features in enumerate(self.channels):
      for j in range(self.convs_per_block):
        h = nn.Conv(features, (3, 3), use_bias=False, name=f"block{i}_conv{j}")(h)
        groups = math.gcd(self.norm_groups, features)
        h = nn.GroupNorm(num_groups=groups, name=f"block{i}_norm{j}")(h)
        h = self.activation(h)
      h = max_pool(h, (1, 2))
    h = h.reshape(*h.shape[:2], -1)  # [batch, frames, mels x channels]
    embedding = self.activation(nn.Dense(self.hidden, name="frame_dense")(h))
    if return_embedding:
      return embedding
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(embedding)
    prior = math.log(self.active_prior / (1.0 - self.active_prior))
    head = nn.Dense(
      self.num_classes, name="head", bias_init=nn.initializers.constant(prior)
    )
    return head(h)


mel_transcriber = functools.partial(MelTranscriber)
mel_transcriber_tiny = functools.partial(
  MelTranscriber, channels=(4, 8), hidden=32, norm_groups=4
)
