"""librosa's windows, mel filter banks, DCT matrices and window sum-squares, cached.

Taking librosa's own arrays (McFee et al., 2015) rather than re-deriving them is what
keeps :mod:`audiojax.features` within float32 rounding of librosa.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import librosa
import numpy as np
import scipy.fft


def _cached(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
  """``lru_cache`` for hashable arguments (window names, tuples); arrays bypass it."""
  cached = functools.lru_cache(maxsize=64)(fn)

  @functools.wraps(fn)
  def wrapper(*args):
    try:
      return cached(*args)
    except TypeError:  # An unhashable window (an array); build it each time.
      return fn(*args)

  return wrapper


@_cached
def _fft_window(window: Any, win_length: int, n_fft: int) -> np.ndarray:
  w = librosa.filters.get_window(window, win_length, fftbins=True)
  return librosa.util.pad_center(w, size=n_fft)


@_cached
def _mel_basis(sr: float, n_fft: int, n_mels: int, fmin: float, fmax, htk, norm):
  # librosa builds its filter bank in float32 by default; use the very same matrix.
  return librosa.filters.mel(
    sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm
  )


@_cached
def _mel_bands(sr, n_fft, n_mels, fmin, fmax, htk, norm):
  """The filter bank as (first bin, end bin, weights) for the low and high mels.

  Each mel filter spans few FFT bins, so the low half of the bank needs only the low
  bins: two smaller products skip about half of the (zero) multiply-adds.
  """
  mel = _mel_basis(sr, n_fft, n_mels, fmin, fmax, htk, norm)
  bands = []
  for rows in np.array_split(mel, 2) if n_mels > 1 else [mel]:
    cols = np.flatnonzero(rows.any(0))
    lo, hi = (cols[0], cols[-1] + 1) if len(cols) else (0, 1)
    bands.append((int(lo), int(hi), rows[:, lo:hi]))
  if sum(w.size for _, _, w in bands) > 0.75 * mel.size:
    return [(0, mel.shape[1], mel)]
  return bands


@_cached
def _dct_matrix(n_mfcc: int, n_mels: int, dct_type: int, norm) -> np.ndarray:
  return scipy.fft.dct(np.eye(n_mels), type=dct_type, norm=norm, axis=0)[:n_mfcc]


@_cached
def _inverse_window_sumsquare(window, n_frames, win_length, n_fft, hop_length):
  wss = librosa.filters.window_sumsquare(
    window=window,
    n_frames=n_frames,
    win_length=win_length,
    n_fft=n_fft,
    hop_length=hop_length,
    dtype=np.float64,
  )
  # librosa divides only where the envelope is not tiny and leaves the rest as is.
  nonzero = wss > np.finfo(np.float32).tiny
  return np.where(nonzero, 1.0 / np.where(nonzero, wss, 1.0), 1.0)
