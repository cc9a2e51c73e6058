"""Front ends: the registry of differentiable maps from a waveform batch to model input.

``FRONTENDS.get(name)(sample_rate, **kwargs)`` returns a pure JAX function
``fn(waveform) -> x`` where ``waveform`` is ``[batch, samples]`` float32 in [-1, 1] and
``x`` is time-major:

* ``raw``  -> ``[batch, samples, 1]``, the waveform itself.
* ``mel``  -> ``[batch, frames, n_mels]``, log-mel power (Davis & Mermelstein, 1980)
  computed by :mod:`audiojax.features` (librosa-exact), in units of ``db_scale`` dB.
* ``mfcc`` -> ``[batch, frames, n_mfcc]``, the DCT-II (ortho) of that log-mel.

Every function is jit-able, differentiable with respect to the waveform (attacks go
through it) and treats examples independently.

Choices, and why:

* dB with a fixed ``ref=1.0`` and ``top_db=None``. librosa's habit of ``ref=np.max``
  and an 80 dB floor below the peak would make each example's features depend on its own
  loudest bin (and, batched, on the other examples), and the clipped bins pass no
  gradient, which masks gradients in robustness evaluations. ``amin=1e-10`` still
  floors true silence at -100 dB.
* ``db_scale=40``: log-mel values of speech, music and noise clips lie in about
  [-100, +25] dB with a spread of ~30 dB, so dividing by 40 gives inputs of order one.
  The MFCCs are those of the scaled log-mel (the DCT is linear): c0 is then ~-10 to +2,
  the rest order one.
* 16 kHz defaults ``n_fft=1024`` (64 ms), ``hop_length=256`` (16 ms), 64 mels, 20
  MFCCs: one second gives 63 frames. The 64 ms window resolves musical pitch as well as
  speech formants, and a 256 hop gives 1.6x fewer frames than a 10 ms (160) hop, so
  models and attacks are cheaper; pass ``n_fft=400, hop_length=160`` for the classic
  25/10 ms speech setting.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp

from audiojax import features
from audiojax.registry import Registry

FrontEnd = Callable[[jax.Array], jax.Array]
FRONTENDS: Registry[Callable[..., FrontEnd]] = Registry("front end")

DB_SCALE = 40.0


def _check_rate(sample_rate: int) -> int:
  if not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
    raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
  return int(sample_rate)


def _check_waveform(waveform) -> jax.Array:
  waveform = jnp.asarray(waveform)
  if waveform.ndim != 2:
    raise ValueError(f"waveform must be [batch, samples], got shape {waveform.shape}")
  return waveform


@FRONTENDS.register("raw")
def make_raw(sample_rate: int) -> FrontEnd:
  """The waveform as a one-channel sequence.

  Args:
    sample_rate: samples per second (checked, otherwise unused).

  Returns:
    ``fn([batch, samples]) -> [batch, samples, 1]``.
  """
  _check_rate(sample_rate)
  return lambda waveform: _check_waveform(waveform)[..., None]


def _log_mel(waveform, sample_rate, n_fft, hop_length, n_mels, fmin, fmax, db_scale):
  mel = features.melspectrogram(
    y=_check_waveform(waveform),
    sr=sample_rate,
    n_fft=n_fft,
    hop_length=hop_length,
    n_mels=n_mels,
    fmin=fmin,
    fmax=fmax,
  )
  return features.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None) / db_scale


@FRONTENDS.register("mel")
def make_mel(
  sample_rate: int,
  *,
  n_fft: int = 1024,
  hop_length: int = 256,
  n_mels: int = 64,
  fmin: float = 0.0,
  fmax: float | None = None,
  db_scale: float = DB_SCALE,
) -> FrontEnd:
  """Log-mel power spectrogram, time-major.

  Args:
    sample_rate: samples per second of the waveform.
    n_fft: FFT and window length (Hann, centred frames, zero padding).
    hop_length: samples between frames.
    n_mels: mel bands (Slaney scale and area normalisation, librosa's default).
    fmin: lowest band edge in Hz.
    fmax: highest band edge in Hz; defaults to ``sample_rate / 2``.
    db_scale: the output is ``power_to_db(mel, ref=1, top_db=None) / db_scale``.

  Returns:
    ``fn([batch, samples]) -> [batch, 1 + samples // hop_length, n_mels]``.
  """
  args = (_check_rate(sample_rate), n_fft, hop_length, n_mels, fmin, fmax, db_scale)
  return lambda waveform: jnp.swapaxes(_log_mel(waveform, *args), -1, -2)


@FRONTENDS.register("mfcc")
def make_mfcc(
  sample_rate: int,
  *,
  n_mfcc: int = 20,
  n_fft: int = 1024,
  hop_length: int = 256,
  n_mels: int = 64,
  fmin: float = 0.0,
  fmax: float | None = None,
  db_scale: float = DB_SCALE,
) -> FrontEnd:
  """MFCCs of the ``mel`` front end's scaled log-mel, time-major.

  Args:
    sample_rate: samples per second of the waveform.
    n_mfcc: coefficients kept (DCT-II, orthonormal, no liftering).
    n_fft, hop_length, n_mels, fmin, fmax, db_scale: as for ``mel``.

  Returns:
    ``fn([batch, samples]) -> [batch, 1 + samples // hop_length, n_mfcc]``.
  """
  args = (_check_rate(sample_rate), n_fft, hop_length, n_mels, fmin, fmax, db_scale)

  def fn(waveform):
    cepstra = features.mfcc(S=_log_mel(waveform, *args), n_mfcc=n_mfcc)
    return jnp.swapaxes(cepstra, -1, -2)

  return fn


@FRONTENDS.register("fft")
def make_fft(sample_rate: int, *, smooth: int = 5, log: bool = True) -> FrontEnd:
  """The segment's magnitude spectrum after moving-average denoising.

  The ECG front end of Chatterjee et al. (2024): each segment is smoothed by a
  ``smooth``-sample moving average (a low-pass with its first zero at
  ``sample_rate / smooth``: 50 Hz for 5 samples at 250 Hz, which also removes 50 Hz
  mains), its mean is removed, and the one-sided FFT magnitude is the model input,
  a sequence over frequency. ``log1p`` compresses the QRS-dominated low bins.

  Args:
    sample_rate: samples per second (checked, otherwise unused).
    smooth: moving-average length in samples (1 = none).
    log: return ``log1p(|X|)`` instead of ``|X|``.

  Returns:
    ``fn([batch, samples]) -> [batch, samples // 2 + 1, 1]``.
  """
  _check_rate(sample_rate)
  if not isinstance(smooth, numbers.Integral) or smooth < 1:
    raise ValueError(f"smooth must be a positive int, got {smooth!r}")
  kernel = jnp.ones((smooth,), jnp.float32) / smooth

  def fn(waveform):
    x = _check_waveform(waveform)
    x = jax.vmap(lambda row: jnp.convolve(row, kernel, mode="same"))(x)
    x = x - x.mean(axis=-1, keepdims=True)
    spectrum = jnp.fft.rfft(x, axis=-1)
    # sqrt(re^2 + im^2 + tiny): |X| with a finite gradient at X = 0.
    magnitude = jnp.sqrt(jnp.real(spectrum) ** 2 + jnp.imag(spectrum) ** 2 + 1e-12)
    return (jnp.log1p(magnitude) if log else magnitude)[..., None]

  return fn
