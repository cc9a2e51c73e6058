"""A classifier over waveforms: a differentiable front end followed by a backbone.

Keeping the front end inside the model means ``apply(params, waveform)`` is the whole
map from audio to logits, which is what attacks differentiate, what unlearning edits
and what the pipeline feeds.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax


class WaveformClassifier(nn.Module):
  """``logits = backbone(frontend(waveform))``.

  Attributes:
    frontend: ``[batch, samples] -> model input`` (``audiojax.frontends``); no params.
    backbone: a ``audiojax.models`` module taking that input.
  """

  frontend: Callable[[jax.Array], jax.Array]
  backbone: nn.Module

  def __call__(self, waveform: jax.Array, *, train: bool = False) -> jax.Array:
    return self.backbone(self.frontend(waveform), train=train)

  def embed(self, waveform: jax.Array, *, train: bool = False) -> jax.Array:
    """The backbone's penultimate features (for probes and Fréchet distances)."""
    return self.backbone.embed(self.frontend(waveform), train=train)
