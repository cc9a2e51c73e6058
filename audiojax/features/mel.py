"""Mel spectrogram, dB scaling and MFCC in JAX, as librosa 0.11's (McFee et al., 2015).

``melspectrogram`` projects the power spectrum onto librosa's own filter bank (split
in two bands to skip zero weights) and runs large CPU batches in cache-sized chunks;
reductions librosa takes over the whole array are per example here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax import features as _package
from audiojax.features._cache import _dct_matrix, _mel_bands, _mel_basis
from audiojax.features.spectral import _as_audio, _stft_time_major

_HIGHEST = jax.lax.Precision.HIGHEST


def _magnitude_power(X: jax.Array, power: float) -> jax.Array:
  """``|X| ** power`` with a finite gradient where ``X == 0``."""
  if power <= 0:
    raise ValueError(f"power must be positive, got {power!r}")
  energy = X.real**2 + X.imag**2
  if power == 2.0:
    return energy
  positive = energy > 0
  safe = jnp.where(positive, energy, 1.0)
  return jnp.where(positive, safe ** (power / 2), 0.0)


def melspectrogram(
  *,
  y=None,
  sr: float = 22050,
  S=None,
  n_fft: int = 2048,
  hop_length: int = 512,
  win_length: int | None = None,
  window: Any = "hann",
  center: bool = True,
  pad_mode: str = "constant",
  power: float = 2.0,
  n_mels: int = 128,
  fmin: float = 0.0,
  fmax: float | None = None,
  htk: bool = False,
  norm: Any = "slaney",
) -> jax.Array:
  """Mel-scaled spectrogram, as ``librosa.feature.melspectrogram``.

  Args:
    y: real waveform ``[..., samples]``, or None when ``S`` is given.
    sr: sample rate.
    S: a spectrogram ``[..., 1 + n_fft // 2, frames]`` already raised to ``power``.
    n_fft, hop_length, win_length, window, center, pad_mode: as in :func:`stft`.
    power: exponent of the magnitude (2 for power, 1 for energy).
    n_mels, fmin, fmax, htk, norm: the filter bank, as ``librosa.filters.mel``.

  Returns:
    ``[..., n_mels, frames]``.
  """
  mel_args = (n_mels, fmin, fmax, htk, norm)
  if S is not None:
    S = jnp.asarray(S)
    if n_fft // 2 + 1 != S.shape[-2]:
      n_fft = 2 * (S.shape[-2] - 1)
    mel = _mel_basis(sr, n_fft, *mel_args).astype(S.dtype)
    return jnp.einsum("...ft,mf->...mt", S, mel, precision=_HIGHEST)
  if y is None:
    raise ValueError("melspectrogram needs y or S, got neither")
  y = _as_audio(y)
  bands = _mel_bands(sr, n_fft, *mel_args)

  def mel_time_major(y):  # The FFT's layout; the mel projection is faster in it.
    X = _stft_time_major(y, n_fft, hop_length, win_length, window, center, pad_mode)
    P = _magnitude_power(X, power)
    parts = [
      jnp.einsum(
        "...tf,mf->...tm", P[..., lo:hi], w.astype(P.dtype), precision=_HIGHEST
      )
      for lo, hi, w in bands
    ]
    return jnp.concatenate(parts, -1) if len(parts) > 1 else parts[0]

  batch = y.reshape((-1, y.shape[-1]))
  frame_bytes = y.dtype.itemsize * n_fft * (y.shape[-1] // hop_length + 1)
  # The thresholds live on the package (audiojax.features), where tests tune them.
  unchunked_bytes, chunk_bytes = _package._UNCHUNKED_BYTES, _package._CHUNK_BYTES
  n_chunks = 1
  if jax.default_backend() == "cpu" and frame_bytes * len(batch) > unchunked_bytes:
    n_chunks = _num_chunks(len(batch), max(1, chunk_bytes // frame_bytes))
  if n_chunks > 1:
    # Chunk j holds examples j, j + n_chunks, ...: picked along a minor axis, so a batch
    # sharded along its leading axis stays sharded and nothing is transposed. Each chunk
    # is recomputed for the gradient rather than stored (faster: less memory traffic).
    grouped = batch.reshape(-1, n_chunks, batch.shape[-1])

    @jax.checkpoint
    def chunk(j):
      return mel_time_major(jax.lax.dynamic_index_in_dim(grouped, j, 1, False))

    out = jnp.moveaxis(jax.lax.map(chunk, jnp.arange(n_chunks)), 0, 1)
  else:
    out = mel_time_major(batch)
  return jnp.swapaxes(out.reshape(y.shape[:-1] + out.shape[-2:]), -1, -2)


def _num_chunks(batch: int, max_chunk: int) -> int:
  """The fewest chunks of at most ``max_chunk`` examples that divide ``batch``."""
  return next(n for n in range(-(-batch // max_chunk), batch + 1) if batch % n == 0)


def _per_example(reduce: Callable, x: jax.Array) -> jax.Array:
  """``reduce`` over the last two axes of each example, shaped to broadcast with x."""
  if x.ndim <= 2:
    return jnp.asarray(reduce(x))
  flat = x.reshape((-1,) + x.shape[-2:])
  return jax.vmap(reduce)(flat).reshape(x.shape[:-2] + (1, 1))


def _power_to_db(power, ref_value, amin: float, top_db: float | None):
  log_spec = 10.0 * jnp.log10(jnp.maximum(amin, power))
  log_spec = log_spec - 10.0 * jnp.log10(jnp.maximum(amin, ref_value))
  if top_db is None:
    return log_spec
  if top_db < 0:
    raise ValueError(f"top_db must be non-negative, got {top_db!r}")
  return jnp.maximum(log_spec, _per_example(jnp.max, log_spec) - top_db)


def power_to_db(
  S, *, ref: float | Callable = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> jax.Array:
  """Power spectrogram to decibels, as ``librosa.power_to_db``.

  ``10 * log10(max(amin, S) / max(amin, ref))``, clipped below at ``max - top_db``.
  With more than two axes, ``max`` and a callable ``ref`` are per example (over the
  last two axes); librosa would take them over the whole batch.

  Args:
    S: power spectrogram ``[..., freq, frames]``; complex input uses ``|S|``.
    ref: reference power, or a traceable callable such as ``jnp.max``.
    amin: positive floor on ``S`` and ``ref``.
    top_db: dynamic range kept below each example's peak; None keeps all.

  Returns:
    dB array of the shape of ``S``.
  """
  if amin <= 0:
    raise ValueError(f"amin must be strictly positive, got {amin!r}")
  S = jnp.asarray(S)
  magnitude = jnp.abs(S) if jnp.iscomplexobj(S) else S
  ref_value = _per_example(ref, magnitude) if callable(ref) else abs(ref)
  return _power_to_db(magnitude, ref_value, amin, top_db)


def amplitude_to_db(
  S, *, ref: float | Callable = 1.0, amin: float = 1e-5, top_db: float | None = 80.0
) -> jax.Array:
  """Amplitude spectrogram to decibels, as ``librosa.amplitude_to_db``.

  ``power_to_db(|S|**2, ref=ref**2, amin=amin**2, top_db=top_db)``, per example.

  Args:
    S: amplitude spectrogram ``[..., freq, frames]``; complex input uses ``|S|``.
    ref: reference amplitude, or a traceable callable applied to ``|S|``.
    amin: positive floor on the amplitude.
    top_db: dynamic range kept below each example's peak; None keeps all.

  Returns:
    dB array of the shape of ``S``.
  """
  if amin <= 0:
    raise ValueError(f"amin must be strictly positive, got {amin!r}")
  magnitude = jnp.abs(jnp.asarray(S))
  ref_value = _per_example(ref, magnitude) if callable(ref) else abs(ref)
  return _power_to_db(magnitude**2, ref_value**2, amin**2, top_db)


def mfcc(
  *,
  y=None,
  sr: float = 22050,
  S=None,
  n_mfcc: int = 20,
  dct_type: int = 2,
  norm: str | None = "ortho",
  lifter: float = 0,
  mel_norm: Any = "slaney",
  **kwargs,
) -> jax.Array:
  """Mel-frequency cepstral coefficients, as ``librosa.feature.mfcc``.

  Args:
    y: real waveform ``[..., samples]``, or None when ``S`` is given.
    sr: sample rate.
    S: log-power mel spectrogram ``[..., n_mels, frames]``; default
      ``power_to_db(melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs))``.
    n_mfcc: coefficients kept.
    dct_type: 1, 2 or 3, as ``scipy.fft.dct``; ``norm``: None or "ortho".
    lifter: if positive, scale coefficient k by ``1 + lifter/2 sin(pi k / lifter)``.
    mel_norm: the filter bank's ``norm``.
    **kwargs: further :func:`melspectrogram` arguments.

  Returns:
    ``[..., n_mfcc, frames]``.
  """
  if S is None:
    S = power_to_db(melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs))
  S = jnp.asarray(S)
  if n_mfcc > S.shape[-2]:
    raise ValueError(f"n_mfcc={n_mfcc} exceeds the {S.shape[-2]} mel bands")
  dct = _dct_matrix(n_mfcc, S.shape[-2], dct_type, norm).astype(S.dtype)
  M = jnp.einsum("km,...mt->...kt", dct, S, precision=_HIGHEST)
  if lifter < 0:
    raise ValueError(f"MFCC lifter={lifter!r} must be non-negative")
  if lifter > 0:
    li = np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter)
    M = M * (1 + (lifter / 2) * li[:, None]).astype(M.dtype)
  return M
