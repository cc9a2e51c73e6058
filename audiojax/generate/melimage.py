"""Mel images: log-mel spectrograms as fixed-size images in [-1, 1], and back to audio.

The generator works on images ``[frames, n_mels, 1]`` (time down the rows, as the
front ends lay features out). The map from audio is

    db    = power_to_db(melspectrogram(y), ref=1.0)            (absolute dB, no top_db)
    image = 2 * (clip(db, db_min, db_max) - db_min) / (db_max - db_min) - 1

which is invertible on ``[db_min, db_max]``: ``db = (image + 1) / 2 * (db_max - db_min)
+ db_min``. The defaults cover the embedded music set: peak-normalised clips span about
-83 dB (1st percentile) to +25 dB (99.9th) with n_fft 1024, so [-80, 30] clips < 1 %.

Back to audio (Riffusion's route, Forsgren & Martiros, 2022): ``features.mel_to_audio``,
i.e. mel power -> linear magnitude by non-negative least squares against librosa's mel
basis (``features.mel_to_stft``), then phase by ``features.griffin_lim``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from audiojax import features


@dataclasses.dataclass(frozen=True)
class MelImageSpec:
  """How clips become images. ``samples`` is the clip length the images stand for."""

  sample_rate: int = 16000
  n_fft: int = 1024
  hop_length: int = 512
  n_mels: int = 64
  frames: int = 64
  fmax: float = 8000.0
  db_min: float = -80.0
  db_max: float = 30.0

  @property
  def samples(self) -> int:
    # A centred STFT of n samples has 1 + n // hop frames.
    return (self.frames - 1) * self.hop_length

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.frames, self.n_mels, 1)


def to_db(image: jax.Array, spec: MelImageSpec) -> jax.Array:
  """Image values in [-1, 1] -> dB."""
  return (image + 1.0) / 2.0 * (spec.db_max - spec.db_min) + spec.db_min


def from_db(db: jax.Array, spec: MelImageSpec) -> jax.Array:
  """dB -> image values, clipped to [-1, 1]."""
  x = 2.0 * (db - spec.db_min) / (spec.db_max - spec.db_min) - 1.0
  return jnp.clip(x, -1.0, 1.0)


def audio_to_image(y: jax.Array, spec: MelImageSpec) -> jax.Array:
  """``[..., samples]`` waveforms (cut or padded to ``spec.samples``) -> images.

  Returns:
    ``[..., frames, n_mels, 1]`` in [-1, 1].
  """
  mel = features.melspectrogram(
    y=features.fix_length(y, size=spec.samples),
    sr=spec.sample_rate,
    n_fft=spec.n_fft,
    hop_length=spec.hop_length,
    n_mels=spec.n_mels,
    fmax=spec.fmax,
  )
  db = features.power_to_db(mel, ref=1.0, top_db=None)
  return from_db(jnp.swapaxes(db, -1, -2), spec)[..., None]


def image_to_mel_power(image: jax.Array, spec: MelImageSpec) -> jax.Array:
  """Images -> mel power ``[..., n_mels, frames]`` (the inverse of the dB map)."""
  db = to_db(jnp.clip(image[..., 0], -1.0, 1.0), spec)
  return jnp.swapaxes(10.0 ** (db / 10.0), -1, -2)


def image_to_audio(
  image: jax.Array, spec: MelImageSpec, key: jax.Array, *, n_iter: int = 32
) -> jax.Array:
  """Images ``[..., frames, n_mels, 1]`` -> waveforms ``[..., samples]`` in [-1, 1].

  Peak-normalised to 0.9 like the embedded music set (Griffin-Lim loses the level).
  """
  y = features.mel_to_audio(
    image_to_mel_power(image, spec),
    sr=spec.sample_rate,
    n_fft=spec.n_fft,
    hop_length=spec.hop_length,
    fmax=spec.fmax,
    n_iter=n_iter,
    length=spec.samples,
    key=key,
  )
  peak = jnp.max(jnp.abs(y), axis=-1, keepdims=True)
  return 0.9 * y / jnp.maximum(peak, 1e-8)
