"""The transcriber a config describes: front end, per-frame backbone, frame grid, loss.

:class:`WaveformTranscriber` is a :class:`~audiojax.models.classifier.
WaveformClassifier` (``backbone(frontend(waveform))``, so ``apply(params,
waveform)`` is differentiable down to the samples, which is what attacks need) that
also carries its :class:`~audiojax.transcription.data.FrameGrid`: the frame rate and
pitch range its logits ``[batch, frames, pitches]`` live on. :func:`restorable`
builds it for training (``audiojax.transcription.experiment``) and for
:func:`audiojax.train.restore`, so a restored model is the trained one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from audiojax import frontends
from audiojax.attacks.losses import frame_bce
from audiojax.models import MODELS
from audiojax.models.classifier import WaveformClassifier
from audiojax.train.losses import weighted_mean
from audiojax.train.state import LossFn
from audiojax.transcription.data import FrameGrid


class WaveformTranscriber(WaveformClassifier):
  """``logits [batch, frames, pitches] = backbone(frontend(waveform))``.

  Attributes:
    frontend: ``[batch, samples] -> [batch, frames, features]``; no params.
    backbone: a per-frame model of ``audiojax.models`` (``mel_transcriber*``).
    grid: the frames and pitches of the logits.
  """

  grid: FrameGrid


def frame_grid(
  config: ml_collections.ConfigDict, sample_rate: int, clip_samples: int
) -> FrameGrid:
  """The grid of ``config.frontend``: its ``kwargs.hop_length`` at ``sample_rate``.

  Raises:
    ValueError: if the front end's kwargs name no ``hop_length``.
  """
  hop = config.frontend.kwargs.get("hop_length")
  if hop is None:
    raise ValueError(
      "a transcriber's frontend.kwargs must set hop_length (its frame grid); got "
      f"{dict(config.frontend.kwargs)}"
    )
  return FrameGrid(int(sample_rate), int(clip_samples), int(hop))


def build_transcriber(
  config: ml_collections.ConfigDict, grid: FrameGrid
) -> WaveformTranscriber:
  """The transcriber of ``config.frontend`` and ``config.model`` on ``grid``.

  Raises:
    ValueError: if the front end does not frame a clip into ``grid.num_frames``.
  """
  frontend = frontends.FRONTENDS.get(config.frontend.name)(
    sample_rate=grid.sample_rate, **config.frontend.kwargs
  )
  clip = jax.ShapeDtypeStruct((1, grid.clip_samples), jnp.float32)
  shape = jax.eval_shape(frontend, clip).shape
  if len(shape) != 3 or shape[1] != grid.num_frames:
    raise ValueError(
      f"front end {config.frontend.name!r} maps a clip of {grid.clip_samples} "
      f"samples to {shape}, not [1, {grid.num_frames}, features]"
    )
  backbone = MODELS.get(config.model.name)(
    num_classes=grid.num_pitches, **config.model.kwargs
  )
  return WaveformTranscriber(frontend=frontend, backbone=backbone, grid=grid)


def model_info(grid: FrameGrid) -> dict[str, Any]:
  """What :func:`restorable` needs beyond the config (``model.json``)."""
  return {
    **dataclasses.asdict(grid),
    "num_frames": grid.num_frames,
    "frame_rate": grid.frame_rate,
  }


def restorable(
  config: ml_collections.ConfigDict, info: Mapping[str, Any]
) -> tuple[WaveformTranscriber, Callable[[jax.Array], Any]]:
  """The model of a ``transcriber`` run and its ``init(key) -> params``."""
  fields = {f.name for f in dataclasses.fields(FrameGrid)}
  grid = FrameGrid(**{k: v for k, v in info.items() if k in fields})
  model = build_transcriber(config, grid)
  example = jnp.zeros((1, grid.clip_samples), jnp.float32)
  return model, lambda key: model.init(key, example)


def transcription_loss(apply_fn: Callable[..., jax.Array]) -> LossFn:
  """Per-frame sigmoid BCE of ``apply_fn(params, audio)`` against ``roll``.

  Args:
    apply_fn: ``(params, audio, train=True, rngs=...) -> logits [B, frames,
      pitches]`` (a transcriber's ``apply``; dropout draws from the step key).

  Returns:
    ``loss_fn(params, batch, key) -> (loss, {"frame_f1"})``: the weighted mean over
    examples (``train.losses.weighted_mean``, so a ``weight`` field ``[B]`` works)
    of each example's mean BCE over frames and pitches; ``frame_f1`` pools the
    batch's frames at probability 0.5.
  """

  def loss_fn(params: Any, batch: dict[str, jax.Array], key: jax.Array):
    logits = apply_fn(params, batch["audio"], train=True, rngs={"dropout": key})
    roll = batch["roll"] > 0.5
    losses = frame_bce(logits, batch["roll"])
    active = logits >= 0.0
    tp = jnp.sum(active & roll)
    f1 = 2 * tp / jnp.maximum(jnp.sum(active) + jnp.sum(roll), 1)
    return weighted_mean(losses, batch.get("weight")), {"frame_f1": f1}

  return loss_fn
