"""How good generated music is, measured, never asserted.

* ``class_probe_accuracy``: a classifier trained on *real* clips names the tag that a
  generated clip was conditioned on (the "classifier accuracy" of conditional GAN and
  diffusion papers).
* ``frechet_distance``: Fréchet distance between Gaussian fits of embeddings of real and
  generated clips (FID, Heusel et al., 2017; FAD, Kilgour et al., 2019). The embeddings
  are our own probe classifier's penultimate layer, not VGGish or Inception: numbers are
  comparable across runs of this project only.
* ``onset_ratio``: mean peak-to-mean ratio of the onset-strength envelope
  (``librosa.onset.onset_strength``, spectral flux) of generated clips over that of
  real clips; crisp note onsets give peaky envelopes, a smeared spectrogram gives ~1.
* ``continuity_ratio``: mean absolute frame-to-frame change of the log-mel image,
  generated over real; jittery frames give > 1, frozen frames < 1.
"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.linalg


def class_probe_accuracy(probe_logits: np.ndarray, conditioned_on: np.ndarray) -> float:
  """Share of generated clips whose probe prediction equals their conditioning tag."""
  pred = np.argmax(np.asarray(probe_logits), axis=-1)
  return float(np.mean(pred == np.asarray(conditioned_on)))


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted to two sets of embeddings ``[N, D]``."""
  real = np.asarray(real, np.float64)
  generated = np.asarray(generated, np.float64)
  if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
    raise ValueError(
      f"embeddings must be [N, D] with equal D: got {real.shape}, {generated.shape}"
    )
  if min(len(real), len(generated)) < 2:
    raise ValueError("need at least 2 embeddings on each side")
  mu_r, mu_g = real.mean(0), generated.mean(0)
  cov_r = np.cov(real, rowvar=False)
  cov_g = np.cov(generated, rowvar=False)
  covmean = scipy.linalg.sqrtm(cov_r @ cov_g)
  if np.iscomplexobj(covmean):
    covmean = covmean.real  # Numerical noise of sqrtm on a near-singular product.
  value = np.sum((mu_r - mu_g) ** 2) + np.trace(cov_r + cov_g - 2.0 * covmean)
  return float(max(value, 0.0))


def onset_peak_to_mean(audio: np.ndarray, sample_rate: int) -> np.ndarray:
  """Per-clip ``max / mean`` of the onset-strength envelope of ``[N, samples]``."""
  env = librosa.onset.onset_strength(y=np.asarray(audio, np.float32), sr=sample_rate)
  env = np.atleast_2d(env)
  return env.max(-1) / np.maximum(env.mean(-1), 1e-8)


def onset_ratio(generated: np.ndarray, real: np.ndarray, sample_rate: int) -> float:
  """Mean onset peak-to-mean of generated clips over that of real clips."""
  return float(
    onset_peak_to_mean(generated, sample_rate).mean()
    / onset_peak_to_mean(real, sample_rate).mean()
  )


def frame_change(images: np.ndarray) -> float:
  """Mean absolute change between consecutive frames of ``[N, frames, mels, 1]``."""
  images = np.asarray(images, np.float32)
  return float(np.mean(np.abs(np.diff(images, axis=1))))


def continuity_ratio(generated: np.ndarray, real: np.ndarray) -> float:
  """``frame_change(generated) / frame_change(real)``; 1 means real-like continuity."""
  return frame_change(generated) / frame_change(real)
