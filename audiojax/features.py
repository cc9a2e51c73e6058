"""Short-time Fourier features in JAX that reproduce librosa 0.11 (McFee et al., 2015).

``stft``, ``istft``, ``melspectrogram``, ``power_to_db``, ``amplitude_to_db``, ``mfcc``
and ``griffin_lim`` take librosa's keyword names and defaults and return its layouts
(``[..., freq, frames]``); windows, mel filter banks and window sum-squares are
librosa's own (built once on the host and cached), so results differ from librosa only
by float32 arithmetic. Beyond librosa:

* Any leading batch axes. Reductions librosa takes over the whole array (``ref``
  callables and ``top_db`` in the dB conversions) are taken per example, over the last
  two axes, so a batch gives what a loop over its examples gives.
* ``jax.jit``, ``jax.vmap`` and reverse-mode ``jax.grad`` w.r.t. the waveform, for
  attacks; configuration arguments are Python values (close over them or mark them
  static). Under a data-parallel mesh the FFTs stay split along the batch.
* ``griffin_lim`` (Griffin & Lim, 1984, with the momentum of Perraudin et al., 2013)
  takes a JAX PRNG ``key`` where librosa's ``griffinlim`` takes ``random_state``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import scipy.fft
from absl import logging
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding, PartitionSpec

# Framing and overlap-add use ``ceil(n_fft / hop)`` shifted slices; past this many a
# gather / scatter is smaller to compile.
_MAX_SLICES = 16
# On CPU, a batch whose frames take more than _UNCHUNKED_BYTES runs through the mel
# pipeline in chunks of about _CHUNK_BYTES of frames, which keeps frames, spectrum and
# power in cache: 256 one-second clips ran 2.4x faster (forward) than in one pass, 64
# clips ran best unchunked (a 2-core EPYC with 32 MB of L3; benchmarks/features.py).
_CHUNK_BYTES = 4 << 20
_UNCHUNKED_BYTES = 24 << 20
# librosa.stft rejects these pad modes, so do we.
_PAD_MODES = ("constant", "edge", "linear_ramp", "reflect", "symmetric")
_HIGHEST = jax.lax.Precision.HIGHEST


def _batch_parallel(fft: Callable[[jax.Array], jax.Array]) -> Callable:
  """``fft`` over the last axis, split along the leading axes like its input.

  XLA's partitioners replicate FFTs: under a data-parallel mesh every device would
  gather the whole batch and transform all of it (the mel front end ran 6x slower on 8
  host devices than on one). Each FFT only mixes its last axis, so each device keeps
  its shard. custom_vmap lets ``jax.vmap`` through (custom_partitioning cannot batch).
  """
  op = custom_partitioning(fft)

  def keep_batch(arg):
    spec = (*arg.sharding.spec, *[None] * len(arg.shape))[: len(arg.shape) - 1]
    return NamedSharding(arg.sharding.mesh, PartitionSpec(*spec, None))

  def partition(mesh, args, result):
    return mesh, fft, keep_batch(args[0]), (keep_batch(args[0]),)

  infer = lambda mesh, args, result: keep_batch(args[0])  # noqa: E731
  op.def_partition(partition, infer_sharding_from_operands=infer,
                   sharding_rule="... i -> ... j")  # fmt: skip
  batched = jax.custom_batching.custom_vmap(op)
  batched.def_vmap(lambda axis_size, in_batched, x: (batched(x), True))
  return batched


_rfft_op = _batch_parallel(lambda x: jnp.fft.rfft(x, axis=-1))


@functools.cache
def _irfft_op(n: int) -> Callable:
  return _batch_parallel(lambda x: jnp.fft.irfft(x, n=n, axis=-1))


@jax.custom_vjp
def _rfft(x: jax.Array) -> jax.Array:
  """``jnp.fft.rfft`` on the last axis, kept sharded; reverse mode only (no jvp)."""
  return _rfft_op(x)


def _rfft_bwd(n, g):
  # JAX's rule: the transpose of x -> rfft(x) is g -> Re(sum_k g_k e^{-2 pi i k t / n}),
  # n * irfft of conj(g) with the bins that irfft counts twice halved.
  return (n * _irfft_op(n)(jnp.conj(g) * _twice(n, 0.5)),)


_rfft.defvjp(lambda x: (_rfft_op(x), x.shape[-1]), _rfft_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _irfft(x: jax.Array, n: int) -> jax.Array:
  """``jnp.fft.irfft(x, n)`` on the last axis, kept sharded; reverse mode only."""
  return _irfft_op(n)(x)


def _irfft_bwd(n, _, g):
  # As JAX's own rule: conj of rfft(g) / n with the bins irfft counts twice doubled.
  return (jnp.conj(_rfft_op(g) * (_twice(n, 2.0) / n)),)


def _twice(n: int, scale: float) -> np.ndarray:
  """``scale`` on the bins irfft counts twice (all but DC and, for even n, Nyquist)."""
  out = np.ones(n // 2 + 1, np.float32)
  out[1 : (n + 1) // 2] = scale
  return out


_irfft.defvjp(lambda x, n: (_irfft_op(n)(x), None), _irfft_bwd)


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


def _fix_length(x: jax.Array, size: int) -> jax.Array:
  """Crops or zero-pads the last axis to ``size`` (librosa.util.fix_length)."""
  n = x.shape[-1]
  if n >= size:
    return x[..., :size]
  return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - n)])


def _frame(y: jax.Array, frame_length: int, hop: int, n_frames: int) -> jax.Array:
  """``[..., n] -> [..., n_frames, frame_length]``, frame t from sample t * hop."""
  r = -(-frame_length // hop)
  if r > _MAX_SLICES:
    idx = np.arange(n_frames)[:, None] * hop + np.arange(frame_length)[None]
    return y[..., idx]
  # Frame t is blocks t..t+r-1 of the signal cut into hop-long blocks: r shifted slices
  # stacked, which XLA lays out as plain copies (~10% faster than a gather or concat).
  lead = y.shape[:-1]
  blocks = _fix_length(y, (n_frames + r - 1) * hop).reshape(*lead, -1, hop)
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
  return _fix_length(y[..., start:], length or y.shape[-1] - 2 * start)


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
  n_chunks = 1
  if jax.default_backend() == "cpu" and frame_bytes * len(batch) > _UNCHUNKED_BYTES:
    n_chunks = _num_chunks(len(batch), max(1, _CHUNK_BYTES // frame_bytes))
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
