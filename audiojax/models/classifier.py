"""A classifier over waveforms: a differentiable front end followed by a backbone.

Keeping the front end inside the model means ``apply(params, waveform)`` is the whole
map from audio to logits, which is what attacks differentiate, what unlearning edits
and what the pipeline feeds. :func:`build_classifier` makes the one a config
describes; training (``audiojax.classification``) and :func:`audiojax.train.restore`
both call it, so a restored model is the trained one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from audiojax import frontends
from audiojax.models import MODELS
from audiojax.train.augment import spec_augment_fn


class WaveformClassifier(nn.Module):
  """``logits = backbone(frontend(waveform))``.

  Attributes:
    frontend: ``[batch, samples] -> model input`` (``audiojax.frontends``); no params.
    backbone: a ``audiojax.models`` module taking that input.
    augment: ``(features, key) -> features`` applied to the front end's output in
      training only, with a key from the ``"dropout"`` rng (SpecAugment,
      :func:`audiojax.train.augment.spec_augment_fn`); None for none.
  """

  frontend: Callable[[jax.Array], jax.Array]
  backbone: nn.Module
  # Keyword-only, so subclasses may add fields without defaults (the transcriber's
  # frame grid).
  augment: Callable[[jax.Array, jax.Array], jax.Array] | None = dataclasses.field(
    default=None, kw_only=True
  )

  def __call__(self, waveform: jax.Array, *, train: bool = False) -> jax.Array:
    features = self.frontend(waveform)
    if train and self.augment is not None:
      features = self.augment(features, self.make_rng("dropout"))
    return self.backbone(features, train=train)

  def embed(self, waveform: jax.Array, *, train: bool = False) -> jax.Array:
    """The backbone's penultimate features (for probes and Fréchet distances)."""
    return self.backbone.embed(self.frontend(waveform), train=train)


def build_classifier(
  config: ml_collections.ConfigDict, num_classes: int, sample_rate: int
) -> WaveformClassifier:
  """The waveform classifier of ``config.frontend`` and ``config.model``."""
  frontend = frontends.FRONTENDS.get(config.frontend.name)(
    sample_rate=sample_rate, **config.frontend.kwargs
  )
  backbone = MODELS.get(config.model.name)(
    num_classes=num_classes, **config.model.kwargs
  )
  # Runs saved before augmentations existed have no ``augment`` in their config.
  augment = spec_augment_fn(config.augment) if "augment" in config else None
  return WaveformClassifier(frontend=frontend, backbone=backbone, augment=augment)


def model_info(split: Any) -> dict[str, Any]:
  """What :func:`restorable` needs of the training data, saved with the run."""
  return {
    "num_classes": split.num_classes,
    "class_names": list(split.class_names),
    "sample_rate": split.sample_rate,
    "clip_samples": split.clip_samples,
    "label": split.label_key,
  }


def restorable(
  config: ml_collections.ConfigDict, info: Mapping[str, Any]
) -> tuple[WaveformClassifier, Callable[[jax.Array], Any]]:
  """The model of a ``classifier`` run and its ``init(key) -> params``."""
  model = build_classifier(config, info["num_classes"], info["sample_rate"])
  example = jnp.zeros((1, info["clip_samples"]), jnp.float32)
  return model, lambda key: model.init(key, example)
