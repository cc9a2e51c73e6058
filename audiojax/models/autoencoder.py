"""The dense autoencoder of the DCASE 2020 Task 2 baseline (Koizumi et al., 2020,
"Description and discussion on DCASE2020 challenge task2: unsupervised anomalous
sound detection for machine condition monitoring", arXiv:2006.05822).

The baseline flattens 5 consecutive frames of a 64-band log-mel spectrogram into one
320-dim vector and reconstructs it through four Dense(128) layers, an 8-dim
bottleneck and four Dense(128) layers; the reconstruction error is the anomaly
score. As elsewhere in :mod:`audiojax.models`, the baseline's BatchNorm is left out
so the params stay one stateless pytree (the inputs are standardised per dimension
instead, see :mod:`audiojax.anomaly.autoencoder`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax


class DenseAutoencoder(nn.Module):
  """``x [..., dim] -> reconstruction [..., dim]`` through a narrow bottleneck.

  Attributes:
    hidden: widths of the encoder's layers (the decoder mirrors them).
    bottleneck: width of the code.
  """

  hidden: Sequence[int] = (128, 128, 128, 128)
  bottleneck: int = 8

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = x
    for i, width in enumerate(self.hidden):
      h = nn.relu(nn.Dense(width, name=f"enc{i}")(h))
    h = nn.relu(nn.Dense(self.bottleneck, name="code")(h))
    for i, width in enumerate(reversed(self.hidden)):
      h = nn.relu(nn.Dense(width, name=f"dec{i}")(h))
    return nn.Dense(x.shape[-1], name="out")(h)
