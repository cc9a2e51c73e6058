"""Fréchet distance between Gaussian fits of two sets of embeddings, and probe accuracy.

* ``frechet_distance``: FID (Heusel et al., 2017) / FAD (Kilgour et al., 2019) over
  whatever embedding a caller chooses. Offline there is no VGGish or Inception here:
  the project's own classifiers embed, so numbers compare runs of this project only.
* ``class_probe_accuracy``: a classifier trained on *real* clips names the tag a
  generated clip was conditioned on (the "classifier accuracy" of conditional GAN and
  diffusion papers).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


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


def class_probe_accuracy(probe_logits: np.ndarray, conditioned_on: np.ndarray) -> float:
  """Share of generated clips whose probe prediction equals their conditioning tag."""
  pred = np.argmax(np.asarray(probe_logits), axis=-1)
  return float(np.mean(pred == np.asarray(conditioned_on)))
