"""Lossy codecs as aligned round trips on the host, and as a JAX layer (BPDA).

``CODECS.get(name)(audio, sample_rate)`` encodes and decodes every row of ``audio``
(``[N, T]`` float32 in [-1, 1]) with a real codec and returns ``[N, T]`` float32
*aligned with the input*: same length, codec delay removed, level restored, so that
``decoded - audio`` is the codec's error and nothing else. Rows are coded
independently (mono). Entries:

* ``mp3_32``, ``mp3_64``, ``mp3_128``: MPEG-1/2/2.5 Layer III by LAME (``lameenc``),
  constant bit rate, quality 2 (LAME's best), output rate = input rate; decoded by
  libsndfile (mpg123). lameenc writes no LAME/Xing info tag, so the decoder cannot
  trim the codec delay; we remove it ourselves (``MP3_DELAY``) and undo the level
  lameenc's streams carry (``MP3_GAIN``). LAME caps MPEG-2.5 (8-12 kHz) at 64 kbps,
  so ``mp3_128`` needs 16 kHz or more.
* ``vorbis``: Ogg Vorbis by libsndfile at compression level 0.6 (its default; Vorbis
  quality 0.4; measured 20-50 kbps mono at 16 kHz, tones to noise).
* ``opus``: Ogg Opus by libsndfile at libopus' automatic bit rate (libsndfile sets
  none; measured ~25/32/65 kbps mono at 8/16/48 kHz). Opus codes only 8, 12, 16, 24
  and 48 kHz.
* ``gsm``: GSM 06.10 full rate (13 kbps, 8 kHz inside) by pedalboard's
  ``GSMFullRateCompressor``, which resamples to 8 kHz and back and compensates its
  own latency.

Alignment, measured on this stack (libsndfile 1.2.2, lameenc 1.9.0, pedalboard
0.9.26) and checked by ``tests/test_channel.py`` (cross-correlation peak
and least-squares gain of the decoded clip against the input):

* MP3 comes back ``MP3_DELAY = 1105`` samples late at every sample rate and bit rate:
  LAME's encoder delay of 576 samples plus the 529-sample delay of the MPEG synthesis
  filter bank in the decoder (the 576 + 528 + 1 that FFmpeg reports for LAME), and
  longer than the input (padded to whole frames); we keep ``T`` samples from 1105.
  Its level comes back ``MP3_GAIN = 0.95`` of the input, flat in frequency: the
  least-squares gain of tones and chirps at 8-48 kHz and every bit rate is
  0.950 +- 0.001. The scale is in the bitstream (mpg123 and pedalboard's JUCE decoder
  both read 0.950 from the same file), not LAME's ``scale`` setting, whose default
  is 1 and which lameenc does not expose. We divide by the constant rather than by a
  per-clip fit, which would also absorb part of the codec's error.
* Vorbis, Opus and GSM come back the input's length at lag 0 with gain 1 (libsndfile
  honours Ogg's pre-skip and end trimming; pedalboard reports its latency), so they
  need no correction.

Measured SNRs after alignment are listed in the tests beside their bounds. Samples
outside [-1, 1] saturate, as 16-bit PCM would; the output is not clipped (MP3's
restored level can overshoot 1 by the codec's error).

``codec_layer(name, sample_rate)`` wraps a codec as ``f(x [N, T]) -> [N, T]`` for
JAX: the forward pass runs the codec on the host through ``jax.pure_callback`` and
the backward pass is the identity, the straight-through estimator that Athalye et al.
(2018, "Obfuscated gradients give a false sense of security") call BPDA with
``g(x) = x``: attacks then optimise through a codec that has no useful derivative.
"""

from __future__ import annotations

import dataclasses
import io
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp
import lameenc
import numpy as np
import soundfile

from audiojax import platform
from audiojax.channel import ChannelError
from audiojax.registry import Registry

MP3_DELAY = 1105  # LAME encoder delay (576) + MPEG decoder filter-bank delay (529).
MP3_GAIN = 0.95  # lameenc's streams decode at 0.95 x the input (+ the codec error).
# Sample rates of MPEG-1 (32-48 kHz), MPEG-2 (16-24 kHz) and MPEG-2.5 (8-12 kHz)
# Layer III; every codec here takes these (Opus only its subset).
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
VORBIS_LEVEL = 0.6  # libsndfile's default compression level (Vorbis quality 0.4).


@dataclasses.dataclass(frozen=True)
class Codec:
  """A lossy codec round trip over a batch of mono clips.

  Attributes:
    name: the registry name.
    roundtrip: ``fn(clip [T] float32, sample_rate) -> [T]`` for one aligned clip.
    sample_rates: the rates the codec takes.
  """

  name: str
  roundtrip: Callable[[np.ndarray, int], np.ndarray]
  sample_rates: tuple[int, ...]

  def check_rate(self, sample_rate) -> int:
    """Returns ``sample_rate`` as an int, or raises :class:`ChannelError`."""
    if (
      not isinstance(sample_rate, numbers.Integral)
      or int(sample_rate) not in self.sample_rates
    ):
      raise ChannelError(
        f"codec {self.name!r} does not take sample_rate {sample_rate!r}; "
        f"it takes {', '.join(map(str, self.sample_rates))}"
      )
    return int(sample_rate)

  def __call__(self, audio, sample_rate: int) -> np.ndarray:
    """Encodes and decodes every row of ``audio``.

    Args:
      audio: ``[N, T]`` samples in [-1, 1] (outside saturates), ``T >= 1``.
      sample_rate: samples per second, one of ``self.sample_rates``.

    Returns:
      ``[N, T]`` float32, aligned with ``audio`` (same length, delay and level
      corrected).

    Raises:
      ChannelError: for a rank other than 2, an empty clip, non-finite samples or an
        unsupported sample rate.
    """
    sample_rate = self.check_rate(sample_rate)
    audio = check_audio(audio, self.name)
    out = np.empty_like(audio)
    for i, clip in enumerate(audio):
      out[i] = self.roundtrip(clip, sample_rate)
    return out


def check_audio(audio, what: str) -> np.ndarray:
  """``audio`` as a finite ``[N, T >= 1]`` float32 array, or a :class:`ChannelError`.

  Args:
    audio: array-like batch of clips.
    what: the codec or function being fed, for the error message.

  Returns:
    The batch as a float32 numpy array.
  """
  audio = np.asarray(audio, dtype=np.float32)
  if audio.ndim != 2:
    raise ChannelError(f"{what} takes audio [N, T], got shape {audio.shape}")
  if audio.shape[1] == 0:
    raise ChannelError(f"{what} takes clips of at least one sample, got {audio.shape}")
  bad = ~np.isfinite(audio)
  if bad.any():
    rows = np.flatnonzero(bad.any(axis=1))
    raise ChannelError(
      f"{what} got {int(bad.sum())} non-finite samples (NaN or inf) in examples "
      f"{rows[:8].tolist()}"
    )
  return audio


def _fit(decoded: np.ndarray, start: int, length: int) -> np.ndarray:
  """``decoded[start:start + length]``, zero-padded if the decoder returned less."""
  out = np.zeros(length, np.float32)
  piece = decoded[start : start + length]
  out[: len(piece)] = piece
  return out


def _decode(data: bytes, sample_rate: int, what: str) -> np.ndarray:
  decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32")
  if rate != sample_rate:  # LAME or libsndfile resampled: the alignment is void.
    raise ChannelError(f"{what} decoded at {rate} Hz, encoded at {sample_rate} Hz")
  return decoded if decoded.ndim == 1 else decoded[:, 0]


def _mp3(kbps: int) -> Callable[[np.ndarray, int], np.ndarray]:
  def roundtrip(clip: np.ndarray, sample_rate: int) -> np.ndarray:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(sample_rate)
    # Without this LAME resamples low bit rates (32 kbps at 44.1 kHz -> 22.05 kHz).
    encoder.set_out_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(2)
    encoder.silence()  # library code never prints; LAME writes notes to stderr.
    pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767.0).astype("<i2")
    data = bytes(encoder.encode(pcm.tobytes())) + bytes(encoder.flush())
    decoded = _decode(data, sample_rate, f"mp3_{kbps}")
    return _fit(decoded, MP3_DELAY, len(clip)) / np.float32(MP3_GAIN)

  return roundtrip


def _ogg(subtype: str, level: float | None) -> Callable[[np.ndarray, int], np.ndarray]:
  def roundtrip(clip: np.ndarray, sample_rate: int) -> np.ndarray:
    buffer = io.BytesIO()
    soundfile.write(
      buffer,
      np.clip(clip, -1.0, 1.0),
      sample_rate,
      format="OGG",
      subtype=subtype,
      compression_level=level,
    )
    decoded = _decode(buffer.getvalue(), sample_rate, subtype.lower())
    return _fit(decoded, 0, len(clip))

  return roundtrip


def _gsm(clip: np.ndarray, sample_rate: int) -> np.ndarray:
  # Imported here: pedalboard loads a large native library that only GSM needs.
  import pedalboard

  compressor = pedalboard.GSMFullRateCompressor()
  decoded = compressor(np.clip(clip, -1.0, 1.0)[None], float(sample_rate), reset=True)
  return _fit(np.asarray(decoded, np.float32)[0], 0, len(clip))


_MPEG25_RATES = (8000, 11025, 12000)
CODECS: Registry[Codec] = Registry(
  "codec",
  {
    "mp3_32": Codec("mp3_32", _mp3(32), STANDARD_RATES),
    "mp3_64": Codec("mp3_64", _mp3(64), STANDARD_RATES),
    # LAME silently codes 128 kbps MPEG-2.5 at 64 kbps, so those rates are refused.
    "mp3_128": Codec(
      "mp3_128", _mp3(128), tuple(r for r in STANDARD_RATES if r not in _MPEG25_RATES)
    ),
    "vorbis": Codec("vorbis", _ogg("VORBIS", VORBIS_LEVEL), STANDARD_RATES),
    "opus": Codec("opus", _ogg("OPUS", None), OPUS_RATES),
    "gsm": Codec("gsm", _gsm, STANDARD_RATES),
  },
)


def codec_layer(name: str, sample_rate: int) -> Callable[[jax.Array], jax.Array]:
  """A codec round trip as a JAX function with an identity (BPDA) backward pass.

  The forward pass calls ``CODECS.get(name)`` on the host with ``jax.pure_callback``
  (so it works under ``jax.jit`` and ``jax.vmap``; each call codes the whole batch);
  ``jax.grad`` through it returns the upstream cotangent unchanged (Athalye et al.,
  2018). Forward-mode differentiation (``jax.jvp``) is not defined. Called eagerly,
  ``f`` raises :class:`ChannelError` for non-finite samples; under ``jax.jit`` they
  are found on the host while the computation runs, so the error reaches the caller
  as ``jax.errors.JaxRuntimeError`` carrying the :class:`ChannelError` message.

  Args:
    name: a codec name in ``CODECS``.
    sample_rate: samples per second of the waveforms it will get.

  Returns:
    ``f(x [N, T]) -> [N, T]`` float32.

  Raises:
    UnknownNameError: for a name not in ``CODECS``.
    ChannelError: for a sample rate the codec does not take (here), or an input of
      rank other than 2 (when ``f`` is traced); and, when ``f`` is called, in a
      process confined to one CPU core, where the callback can deadlock
      (:mod:`audiojax.platform`).
  """
  codec = CODECS.get(name)
  sample_rate = codec.check_rate(sample_rate)

  def host(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    # Under vmap the callback sees extra leading axes: code them as more rows.
    flat = codec(x.reshape(-1, x.shape[-1]), sample_rate)
    return flat.reshape(x.shape)

  @jax.custom_vjp
  def straight_through(x: jax.Array) -> jax.Array:
    shape = jax.ShapeDtypeStruct(x.shape, jnp.float32)
    return jax.pure_callback(host, shape, x, vmap_method="broadcast_all")

  def forward(x):
    return straight_through(x), None

  def backward(_, cotangent):
    return (cotangent,)

  straight_through.defvjp(forward, backward)

  def layer(x) -> jax.Array:
    if platform.usable_cores() == 1:
      raise ChannelError(
        f"codec_layer({name!r}) needs at least two CPU cores: this process may use "
        "one, where jax.pure_callback can deadlock waiting for the thread it holds "
        "(jax 0.10.2; see audiojax.platform)"
      )
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 2:
      raise ChannelError(f"codec_layer({name!r}) takes x [N, T], got shape {x.shape}")
    if x.shape[1] == 0:
      raise ChannelError(f"codec_layer({name!r}) takes T >= 1, got shape {x.shape}")
    if not isinstance(x, jax.core.Tracer):  # eager: check here, typed, not wrapped.
      check_audio(np.asarray(x), f"codec_layer({name!r})")
    return straight_through(x)

  return layer
