"""How good generated music is, measured, never asserted.

The probe accuracy and Fréchet distance are the evaluators'
(:mod:`audiojax.evaluators.frechet`); these two are the generator's own:

* ``onset_ratio``: mean peak-to-mean ratio of the onset-strength envelope
  (``librosa.onset.onset_strength``, spectral flux) of generated clips over that of
  real clips; crisp note onsets give peaky envelopes, a smeared spectrogram gives ~1.
* ``continuity_ratio``: mean absolute frame-to-frame change of the log-mel image,
  generated over real; jittery frames give > 1, frozen frames < 1.
"""

from __future__ import annotations

import librosa
import numpy as np


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
