"""Test signals the benchmarks time on: noise, tones and chirps at random levels."""

import librosa
import numpy as np


def mixed_clips(n: int, sr: int, seconds: float = 1.0) -> np.ndarray:
  """``[n, sr * seconds]`` float32 clips; timings do not depend on the content, but
  parity checks see the signals audio models meet."""
  rng = np.random.default_rng(0)
  samples = int(sr * seconds)
  t = np.arange(samples) / sr
  chirp = librosa.chirp(fmin=100, fmax=7000, sr=sr, duration=seconds)[:samples]
  kinds = (
    lambda: rng.uniform(-1, 1, samples),
    lambda: np.sin(2 * np.pi * rng.uniform(100, 4000) * t),
    lambda: chirp,
  )
  clips = [kinds[i % 3]() * rng.uniform(0.01, 0.9) for i in range(n)]
  return np.stack(clips).astype(np.float32)
