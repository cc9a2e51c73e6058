"""Training-time augmentations of a waveform classifier, chosen by ``config.augment``.

The augmentations a model trainer reaches for first, each applied only in training:

* ``noise_snr_db = (low, high)``: white noise added to every clip at an SNR drawn
  uniformly in dB per clip (the "noise injection" of Ko et al., 2015, "Audio
  augmentation for speech recognition", and of most audio pipelines since).
* ``mixup_alpha > 0``: mixup (Zhang et al., 2018, "mixup: Beyond empirical risk
  minimization"): one ``lam ~ Beta(alpha, alpha)`` per batch, every clip mixed with
  a random partner of the batch, the loss ``lam L(y) + (1 - lam) L(y_partner)``.
* ``specaugment``: time and frequency masks on the front end's output (Park et al.,
  2019, "SpecAugment"), inside :class:`audiojax.models.classifier.WaveformClassifier`
  (:func:`spec_augment`), since that is where the spectrogram exists.

:func:`wrap` turns any loss of the shared loop into its augmented version; mixup
evaluates the wrapped loss twice on the same mixed batch with the same key (so the
same dropout), once per label set, which is exactly mixup's loss for a loss linear
in the one-hot label (cross-entropy) and keeps the loss's per-example ``weight``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from audiojax.train.state import LossFn


def check(augment: Mapping[str, Any]) -> None:
  """Raises ValueError for an augmentation setting that cannot be meant."""
  snr = tuple(augment["noise_snr_db"])
  if snr and (len(snr) != 2 or not snr[0] <= snr[1]):
    raise ValueError(f"noise_snr_db must be () or (low, high) in dB, got {snr!r}")
  if not augment["mixup_alpha"] >= 0:
    raise ValueError(f"mixup_alpha must be >= 0, got {augment['mixup_alpha']!r}")
  spec = augment["specaugment"]
  for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
    if int(spec[name]) < 0:
      raise ValueError(f"specaugment.{name} must be >= 0, got {spec[name]!r}")


def add_noise(audio: jax.Array, key: jax.Array, low: float, high: float) -> jax.Array:
  """White noise at an SNR drawn in ``[low, high]`` dB for each clip ``[B, T]``."""
  k_snr, k_noise = jax.random.split(key)
  snr = jax.random.uniform(k_snr, audio.shape[:1], minval=low, maxval=high)
  power = jnp.mean(audio**2, axis=-1, keepdims=True)
  scale = jnp.sqrt(power / 10.0 ** (snr[:, None] / 10.0))
  return audio + scale * jax.random.normal(k_noise, audio.shape, audio.dtype)


def spec_augment(
  features: jax.Array,
  key: jax.Array,
  *,
  freq_masks: int,
  freq_width: int,
  time_masks: int,
  time_width: int,
) -> jax.Array:
  """SpecAugment's masks on ``[batch, frames, bins]`` features (each clip its own).

  Each mask sets a band of width ``U{0..width}`` at a uniform start to the clip's
  mean value (Park et al. use zero on normalised log-mels; the mean is zero's
  equivalent for un-normalised dB or MFCC features).
  """
  batch, frames, bins = features.shape

  def masks(key, count, width, size):
    k_w, k_s = jax.random.split(key)
    w = jax.random.randint(k_w, (batch, count), 0, width + 1)
    start = jax.random.randint(k_s, (batch, count), 0, jnp.maximum(size - w, 0) + 1)
    pos = jnp.arange(size)
    hit = (pos >= start[..., None]) & (pos < (start + w)[..., None])  # [B, n, size]
    return jnp.any(hit, axis=1)  # [B, size]

  k_f, k_t = jax.random.split(key)
  masked = jnp.zeros((batch, frames, bins), bool)
  if freq_masks:
    masked |= masks(k_f, freq_masks, freq_width, bins)[:, None, :]
  if time_masks:
    masked |= masks(k_t, time_masks, time_width, frames)[:, :, None]
  mean = jnp.mean(features, axis=(1, 2), keepdims=True)
  return jnp.where(masked, mean, features)


def wrap(loss_fn: LossFn, augment: Mapping[str, Any] | None) -> LossFn:
  """``loss_fn`` with ``augment``'s waveform augmentations (noise, mixup).

  Args:
    loss_fn: ``(params, batch, key) -> (loss, metrics)`` of the shared loop.
    augment: ``config.augment`` (``noise_snr_db``, ``mixup_alpha``,
      ``specaugment``), or None for none.

  Returns:
    ``loss_fn`` itself when no waveform augmentation is on, else the augmented loss.
  """
  if augment is None:
    return loss_fn
  check(augment)
  snr = tuple(float(s) for s in augment["noise_snr_db"])
  alpha = float(augment["mixup_alpha"])
  if not snr and alpha == 0:
    return loss_fn

  def augmented(params: Any, batch: dict[str, jax.Array], key: jax.Array):
    k_noise, k_lam, k_perm, k_loss = jax.random.split(key, 4)
    audio = batch["audio"]
    if snr:
      audio = add_noise(audio, k_noise, *snr)
    if not alpha:
      return loss_fn(params, {**batch, "audio": audio}, k_loss)
    lam = jax.random.beta(k_lam, alpha, alpha)
    perm = jax.random.permutation(k_perm, audio.shape[0])
    mixed = {**batch, "audio": lam * audio + (1.0 - lam) * audio[perm]}
    partner = {k: v[perm] for k, v in batch.items() if k != "audio"}
    own, metrics = loss_fn(params, mixed, k_loss)
    other, _ = loss_fn(params, {**mixed, **partner}, k_loss)
    return lam * own + (1.0 - lam) * other, metrics

  return augmented


def spec_augment_fn(
  augment: Mapping[str, Any] | None,
) -> Callable[[jax.Array, jax.Array], jax.Array] | None:
  """``(features, key) -> masked features`` for the model, or None when off."""
  if augment is None:
    return None
  check(augment)
  spec = {k: int(v) for k, v in dict(augment["specaugment"]).items()}
  if not (spec["freq_masks"] or spec["time_masks"]):
    return None
  return lambda features, key: spec_augment(features, key, **spec)
