"""How audible a perturbation is: SNR and PESQ of a perturbed set against its source.

* SNR (dB): ``10 log10(sum x^2 / sum (x' - x)^2)`` per clip.
* Log-spectral distance (dB): per clip, the mean over STFT frames of the RMS over
  frequency of ``10 log10`` power differences (``librosa.stft``, 2048 / 512, as in
  audio super-resolution papers, e.g. Kuleshov et al., 2017); 0 for identical clips.
* PESQ (ITU-T P.862.2 wide band at 16 kHz, through the ``pesq`` package): the
  perceptual quality of ``x'`` with ``x`` as reference, -0.5 to 4.64 (MOS-LQO). It
  is defined for speech; on music it is a consistent, not a calibrated, score. Clips
  PESQ cannot score (it finds no utterance in near-silence) are left out and
  counted.

Both work on numpy ``[N, T]`` batches, one clip at a time for PESQ (a C library).
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
from pesq import NoUtterancesError, pesq

PESQ_RATE = 16000


class QualityError(ValueError):
  """Reference and perturbed sets that cannot be compared."""


def _pair(reference, perturbed) -> tuple[np.ndarray, np.ndarray]:
  x = np.asarray(reference, np.float64)
  y = np.asarray(perturbed, np.float64)
  if x.ndim != 2 or x.shape != y.shape:
    raise QualityError(
      f"reference and perturbed must both be [N, T] of one shape, "
      f"got {x.shape} and {y.shape}"
    )
  if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    raise QualityError("reference or perturbed audio holds non-finite samples")
  return x, y


def snr_db(reference, perturbed) -> np.ndarray:
  """Per-clip SNR ``[N]`` in dB (inf where nothing changed)."""
  x, y = _pair(reference, perturbed)
  noise = np.sum((y - x) ** 2, axis=1)
  with np.errstate(divide="ignore"):
    return 10.0 * np.log10(np.sum(x**2, axis=1) / noise)


# Power floor of the log spectra: -100 dB re full scale, below 16-bit silence.
LSD_FLOOR = 1e-10


def log_spectral_distance(
  reference, perturbed, *, n_fft: int = 2048, hop_length: int = 512
) -> np.ndarray:
  """Per-clip log-spectral distance ``[N]`` in dB."""
  x, y = _pair(reference, perturbed)
  spec = lambda a: np.abs(librosa.stft(a, n_fft=n_fft, hop_length=hop_length)) ** 2
  px, py = spec(x), spec(y)  # [N, freq, frames]
  diff = 10.0 * (np.log10(px + LSD_FLOOR) - np.log10(py + LSD_FLOOR))
  return np.mean(np.sqrt(np.mean(diff**2, axis=1)), axis=1)


def pesq_wb(reference, perturbed, sample_rate: int = PESQ_RATE) -> np.ndarray:
  """Per-clip wide-band PESQ ``[N]``; NaN where PESQ found no utterance."""
  if sample_rate != PESQ_RATE:
    raise QualityError(f"wide-band PESQ needs {PESQ_RATE} Hz audio, got {sample_rate}")
  x, y = _pair(reference, perturbed)
  out = np.full(len(x), np.nan)
  for i in range(len(x)):
    try:
      out[i] = pesq(sample_rate, x[i], y[i], "wb")
    except NoUtterancesError:
      pass
  return out


def summary(reference, perturbed, sample_rate: int = PESQ_RATE) -> dict[str, Any]:
  """Mean and minimum SNR, mean log-spectral distance, mean PESQ, and how many clips
  PESQ scored."""
  snr = snr_db(reference, perturbed)
  scores = pesq_wb(reference, perturbed, sample_rate)
  finite = snr[np.isfinite(snr)]
  scored = scores[np.isfinite(scores)]
  return {
    "snr_db_mean": float(np.mean(finite)) if finite.size else float("inf"),
    "snr_db_min": float(np.min(finite)) if finite.size else float("inf"),
    "lsd_db_mean": float(np.mean(log_spectral_distance(reference, perturbed))),
    "pesq_wb_mean": float(np.mean(scored)) if scored.size else float("nan"),
    "pesq_scored": int(scored.size),
    "clips": len(snr),
  }
