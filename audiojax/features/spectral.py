"""STFT, inverse STFT, Griffin-Lim and the spectral centroid in JAX, as librosa 0.11's.

Framing and overlap-add are shifted slices (or a gather / scatter for long windows);
the FFTs are :mod:`audiojax.features._fft`'s batch-parallel ones. ``griffin_lim`` is
fast Griffin-Lim (Griffin & Lim, 1984; Perraudin et al., 2013); ``spectral_centroid``
is librosa's (McFee et al., 2015) on :func:`stft`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from audiojax.features._cache import _fft_window, _inverse_window_sumsquare
from audiojax.features._fft import _irfft, _rfft
from audiojax.features.util import fix_length

# Framing and overlap-add use ``ceil(n_fft / hop)`` shifted slices; past this many a
# gather / scatter is smaller to compile.
_MAX_SLICES = 16
# librosa.stft rejects these pad modes, so do we.
_PAD_MODES = ("constant", "edge", "linear_ramp", "reflect", "symmetric")


def _stft_params(n_fft, hop_length, win_length):
  if win_length is None:
    win_length = n_fft
  if hop_length is None:
    hop_length = win_length // 4
  for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
    if not isinstance(value, int | np.integer) or value <= 0:
      raise ValueError(f"{name} must be a positive integer, got {value!r}")
  if not 0 < win_length <= n_fft:
    raise ValueError(f"win_length={win_length!r} must be in (0, n_fft={n_fft}]")
  return int(n_fft), int(hop_length), int(win_length)


def _as_audio(y) -> jax.Array:
  y = jnp.asarray(y)
  if jnp.issubdtype(y.dtype, jnp.complexfloating) or y.ndim < 1:
    raise ValueError(f"y must be a real array [..., samples], got {y.dtype} {y.shape}")
  if not jnp.issubdtype(y.dtype, jnp.floating):
    y = y.astype(jnp.float32)
  return y


def _frame(y: jax.Array, frame_length: int, hop: int, n_frames: int) -> jax.Array:
  """``[..., n] -> [..., n_frames, frame_length]``, frame t from sample t * hop."""
  r = -(-frame_length // hop)
  if r > _MAX_SLICES:
    idx = np.arange(n_frames)[:, None] * hop + np.arange(frame_length)[None]
    return y[..., idx]
  # Frame t is blocks t..t+r-1 of the signal cut into hop-long blocks: r shifted slices
  # stacked, which XLA lays out as plain copies (~10% faster than a gather or concat).
  lead = y.shape[:-1]
  blocks = fix_length(y, size=(n_frames + r - 1) * hop).reshape(*lead, -1, hop)
  frames = jnp.stack([blocks[..., j : j + n_frames, :] for j in range(r)], -2)
  return frames.reshape(*lead, n_frames, r * hop)[..., :frame_length]


def _overlap_add(frames: jax.Array, hop: int) -> jax.Array:
  """``[..., n_frames, n_fft] -> [..., n_fft + hop * (n_frames - 1)]``."""
  *lead, n_frames, n_fft = frames.shape
  size = n_fft + hop * (n_frames - 1)
  r = -(-n_fft // hop)
  if r > _MAX_SLICES:
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None]
    return jnp.zeros((*lead, size), frames.dtype).at[..., idx].add(frames)
  frames = jnp.pad(frames, [(0, 0)] * (len(lead) + 1) + [(0, r * hop - n_fft)])
  frames = frames.reshape((*lead, n_frames, r, hop))
  pad = [(0, 0)] * len(lead)
  out = sum(
    jnp.pad(frames[..., j, :], [*pad, (j, r - 1 - j), (0, 0)]) for j in range(r)
  )
  return out.reshape((*lead, (n_frames + r - 1) * hop))[..., :size]


def _stft_time_major(y, n_fft, hop_length, win_length, window, center, pad_mode):
  """The STFT as ``[..., frames, 1 + n_fft // 2]`` (the layout the FFT produces)."""
  y = _as_audio(y)
  n_fft, hop_length, win_length = _stft_params(n_fft, hop_length, win_length)
  if center:
    if pad_mode not in _PAD_MODES:
      raise ValueError(f"pad_mode={pad_mode!r} is not one of {_PAD_MODES}")
    y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(n_fft // 2, n_fft // 2)], pad_mode)
  elif n_fft > y.shape[-1]:
    raise ValueError(
      f"n_fft={n_fft} is too large for uncentered analysis of {y.shape[-1]} samples"
    )
  n_frames = 1 + (y.shape[-1] - n_fft) // hop_length
  window = _fft_window(window, win_length, n_fft).astype(y.dtype)
  return _rfft(_frame(y, n_fft, hop_length, n_frames) * window)


def stft(
  y,
  *,
  n_fft: int = 2048,
  hop_length: int | None = None,
  win_length: int | None = None,
  window: Any = "hann",
  center: bool = True,
  pad_mode: str = "constant",
) -> jax.Array:
  """Short-time Fourier transform, as ``librosa.stft``.

  Args:
    y: real waveform ``[..., samples]``.
    n_fft: FFT length in samples.
    hop_length: samples between frames; default ``win_length // 4``.
    win_length: window length, zero-padded to ``n_fft``; default ``n_fft``.
    window: a ``librosa.filters.get_window`` spec or an array.
    center: pad ``n_fft // 2`` each side so frame ``t`` centres on ``t * hop_length``.
    pad_mode: ``jnp.pad`` mode of that padding.

  Returns:
    Complex array ``[..., 1 + n_fft // 2, frames]``.
  """
  X = _stft_time_major(y, n_fft, hop_length, win_length, window, center, pad_mode)
  return jnp.swapaxes(X, -1, -2)


def istft(
  stft_matrix,
  *,
  hop_length: int | None = None,
  win_length: int | None = None,
  n_fft: int | None = None,
  window: Any = "hann",
  center: bool = True,
  length: int | None = None,
) -> jax.Array:
  """Inverse STFT by weighted overlap-add, as ``librosa.istft``.

  Args:
    stft_matrix: complex ``[..., 1 + n_fft // 2, frames]``.
    hop_length, win_length, window, center: as given to :func:`stft`.
    n_fft: FFT length; default ``2 * (freq - 1)``.
    length: if given, the output is cropped or zero-padded to this many samples.

  Returns:
    Real waveform ``[..., samples]``.
  """
  stft_matrix = jnp.asarray(stft_matrix)
  if n_fft is None:
    n_fft = 2 * (stft_matrix.shape[-2] - 1)
  n_fft, hop_length, win_length = _stft_params(n_fft, hop_length, win_length)
  n_frames = stft_matrix.shape[-1]
  if length:
    padded = length + 2 * (n_fft // 2) if center else length
    n_frames = min(n_frames, -(-padded // hop_length))
  frames = _irfft(jnp.swapaxes(stft_matrix[..., :n_frames], -1, -2), n_fft)
  frames = frames * _fft_window(window, win_length, n_fft).astype(frames.dtype)
  y = _overlap_add(frames, hop_length)
  inverse = _inverse_window_sumsquare(window, n_frames, win_length, n_fft, hop_length)
  y = y * inverse.astype(y.dtype)
  start = n_fft // 2 if center else 0
  return fix_length(y[..., start:], size=length or y.shape[-1] - 2 * start)


def griffin_lim(
  S,
  *,
  n_iter: int = 32,
  hop_length: int | None = None,
  win_length: int | None = None,
  n_fft: int | None = None,
  window: Any = "hann",
  center: bool = True,
  length: int | None = None,
  pad_mode: str = "constant",
  momentum: float = 0.99,
  init: str | None = "random",
  key: jax.Array | None = None,
) -> jax.Array:
  """Phase reconstruction by fast Griffin-Lim, as ``librosa.griffinlim``.

  Args:
    S: magnitude spectrogram ``[..., 1 + n_fft // 2, frames]``.
    n_iter: iterations (a ``lax.fori_loop``).
    hop_length, win_length, n_fft, window, center, length, pad_mode: as in
      :func:`stft` and :func:`istft`.
    momentum: fast Griffin-Lim momentum; 0 gives the original algorithm.
    init: "random" for uniform random phase, None for zero phase.
    key: PRNG key of the random phase (librosa's ``random_state``); required for
      ``init="random"``. The same key gives the same output.

  Returns:
    Real waveform ``[..., samples]`` whose STFT magnitude approximates ``S``.
  """
  S = jnp.asarray(S)
  if momentum < 0:
    raise ValueError(f"griffin_lim momentum={momentum!r} must be >= 0")
  if momentum > 1:
    logging.warning("Griffin-Lim with momentum=%s > 1 can be unstable", momentum)
  if n_fft is None:
    n_fft = 2 * (S.shape[-2] - 1)
  if init == "random":
    if key is None:
      raise ValueError("griffin_lim(init='random') needs a PRNG key, got key=None")
    phase = jnp.exp(2j * jnp.pi * jax.random.uniform(key, S.shape, S.dtype))
  elif init is None:
    phase = jnp.ones(S.shape, jnp.result_type(S.dtype, jnp.complex64))
  else:
    raise ValueError(f"init={init!r} must be 'random' or None")
  inv_args = dict(
      hop_length=hop_length, win_length=win_length, n_fft=n_fft, window=window,
      center=center,
  )  # fmt: skip
  fwd_args = dict(inv_args, pad_mode=pad_mode)
  eps = jnp.finfo(S.dtype).tiny

  def step(_, carry):
    angles, previous = carry
    rebuilt = stft(istft(angles, length=length, **inv_args), **fwd_args)
    if rebuilt.shape != S.shape:
      raise ValueError(
        f"length={length!r} gives an STFT of shape {rebuilt.shape}, not {S.shape}"
      )
    angles = rebuilt - (momentum / (1 + momentum)) * previous
    return angles / (jnp.abs(angles) + eps) * S, rebuilt

  # The first iteration has no previous estimate: a zero one subtracts nothing.
  angles, _ = jax.lax.fori_loop(0, n_iter, step, (phase * S, jnp.zeros_like(phase)))
  return istft(angles, length=length, **inv_args)


# librosa's spelling, for code ported from it.
griffinlim = griffin_lim


def spectral_centroid(
  *,
  y=None,
  sr: float = 22050,
  S=None,
  n_fft: int = 2048,
  hop_length: int = 512,
  freq=None,
  win_length: int | None = None,
  window: Any = "hann",
  center: bool = True,
  pad_mode: str = "constant",
) -> jax.Array:
  """Spectral centroid, as ``librosa.feature.spectral_centroid``.

  Each frame's mean frequency, its bins weighted by magnitude (Klapuri & Davy, 2007):
  ``sum_k freq[k] * S[k, t] / sum_j S[j, t]``. A frame without energy gives 0.

  Args:
    y: real waveform ``[..., samples]``, or None when ``S`` is given.
    sr: sample rate.
    S: a magnitude spectrogram ``[..., 1 + n_fft // 2, frames]``, non-negative (which,
      unlike librosa, is not checked: the values are unknown under ``jax.jit``).
    n_fft, hop_length, win_length, window, center, pad_mode: as in :func:`stft`; with
      ``S``, ``n_fft`` is inferred from its shape as librosa does.
    freq: the bins' centre frequencies, ``[freq]`` or ``[freq, frames]``; default the
      FFT bin frequencies of ``sr`` and ``n_fft``.

  Returns:
    Centroids in Hz, ``[..., 1, frames]``.
  """
  if S is None:
    if y is None:
      raise ValueError("spectral_centroid needs y or S, got neither")
    X = stft(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode,
    )  # fmt: skip
    S = jnp.abs(X)  # Its gradient at X == 0 is 0, not NaN (JAX's rule for complex).
  else:
    S = jnp.asarray(S)
    if jnp.issubdtype(S.dtype, jnp.complexfloating):
      raise ValueError(f"spectral_centroid needs a real S (magnitudes), got {S.dtype}")
    if not jnp.issubdtype(S.dtype, jnp.floating):
      S = S.astype(jnp.float32)
    if n_fft // 2 + 1 != S.shape[-2]:
      n_fft = 2 * (S.shape[-2] - 1)
  if freq is None:
    freq = np.fft.rfftfreq(n_fft, 1.0 / sr)  # librosa.fft_frequencies
  freq = jnp.asarray(freq, S.dtype)
  if freq.ndim == 1:
    freq = freq[:, None]
  # As librosa.util.normalize(norm=1): a frame whose total is below the smallest
  # normal number stays unnormalised, so silence gives 0 rather than 0 / 0.
  total = jnp.sum(S, axis=-2, keepdims=True)
  total = jnp.where(total < jnp.finfo(S.dtype).tiny, 1.0, total)
  return jnp.sum(freq * (S / total), axis=-2, keepdims=True)
