"""The faults of :data:`audiojax.data.faults.FAULTS`: one pure JAX function of one
clip each, ``fn(audio [T], sample_rate, key, severity) -> audio [T]``, with the
constants their docstrings name. Call them through :func:`audiojax.data.faults.inject`
(checks, batching, clipping to [-1, 1], one jit per fault).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

REFERENCE_FLOOR = 0.01  # -40 dBFS: the least RMS that levels are relative to.

CLIP_GAIN_DB = 6.0
CLIP_DEPTH = 0.95
DROPOUT_FRACTION = 0.3
MAX_GAPS = 4
DC_OFFSET = 0.2
MAX_BURSTS = 4
BURST_MS = (10.0, 40.0)
BURST_DB = 20.0
SILENCE_RAMP = 1.25
SILENCE_FLOOR_DB = -80.0
PITCH_SEMITONES = 4.0
WOW_DEPTH = 0.04
WOW_HZ = (1.0, 8.0)
MAINS_HZ = (50, 60)
HUM_HARMONICS = 4
HUM_DB = (-30.0, 0.0)
GLITCHES_PER_SECOND = 16.0
MUFFLED_HZ = 300.0
MUFFLED_START = 1.25  # times Nyquist: the stop edge at severity 0 (no effect).
TRANSITION = 0.8  # low-pass response: 1 below TRANSITION * stop, 0 above stop.
# Recorded at a, played at b: severity (0, .25], (.25, .5], (.5, .75], (.75, 1].
RATE_MISMATCHES = ((44100, 48000), (16000, 22050), (32000, 48000), (22050, 44100))


# Helpers (one clip ``[T]``; ``severity`` a python float or a traced scalar).


def _reference_rms(x: jax.Array) -> jax.Array:
  return jnp.maximum(jnp.sqrt(jnp.mean(jnp.square(x))), REFERENCE_FLOOR)


def _random_sign(key: jax.Array, dtype) -> jax.Array:
  return jnp.where(jax.random.bernoulli(key), 1.0, -1.0).astype(dtype)


def _lowpass(x: jax.Array, sample_rate: float, stop_hz) -> jax.Array:
  """Zero-phase FFT low-pass: gain 1 up to ``TRANSITION * stop_hz``, a raised-cosine
  fall to 0 at ``stop_hz`` (-6 dB half way), 0 above; zero-padded to at least twice
  the clip so the filter does not wrap around."""
  n = x.shape[-1]
  n_fft = 1 << (2 * n - 1).bit_length()
  freqs = jnp.fft.rfftfreq(n_fft, 1.0 / sample_rate).astype(x.dtype)
  pass_hz = TRANSITION * stop_hz
  ramp = jnp.clip((freqs - pass_hz) / (stop_hz - pass_hz), 0.0, 1.0)
  gain = 0.5 * (1.0 + jnp.cos(jnp.pi * ramp))
  return jnp.fft.irfft(jnp.fft.rfft(x, n_fft) * gain, n_fft)[:n].astype(x.dtype)


def _read(x: jax.Array, index: jax.Array, frac: jax.Array) -> jax.Array:
  """``x`` at positions ``index + frac`` (``frac`` in [0, 1)) by linear
  interpolation, 0 outside the clip; exact where ``frac`` is 0."""
  n = x.shape[-1]
  padded = jnp.concatenate([x, jnp.zeros((1,), x.dtype)])
  inside = (index >= 0) & (index < n)
  i0 = jnp.where(inside, index, n)
  i1 = jnp.where(inside, index + 1, n)
  return padded[i0] * (1.0 - frac) + padded[i1] * frac


def _play_faster(x: jax.Array, sample_rate: float, factor) -> jax.Array:
  """``x`` played back ``factor`` times as fast, cut or zero-padded to its length.

  ``out[t] = x(factor * t)``: pitch and speed times ``factor``; a faster clip ends in
  silence (the source ran out), a slower one loses its end. Read faster, the clip is
  first low-passed at the new Nyquist ``sample_rate / (2 factor)`` (no aliasing).
  ``factor * t`` is split into whole and fractional samples per block of 1024, so
  the interpolation stays exact to ~1e-4 samples on long clips in float32.
  """
  n = x.shape[-1]
  factor = jnp.asarray(factor, x.dtype)
  antialiased = _lowpass(x, sample_rate, sample_rate / 2 / jnp.maximum(factor, 1.0))
  x = jnp.where(factor > 1, antialiased, x)
  block = 1024
  t = jnp.arange(n)
  high, low = t // block, t % block
  step = factor * block
  step_whole = jnp.floor(step)
  part = high.astype(x.dtype) * (step - step_whole) + low.astype(x.dtype) * factor
  part_whole = jnp.floor(part)
  index = high * step_whole.astype(jnp.int32) + part_whole.astype(jnp.int32)
  return _read(x, index, part - part_whole)


# The faults.


def clipping(audio, sample_rate, key, severity):
  """Hard clipping after a gain: an input stage driven too hot.

  The clip is amplified by ``6 * severity`` dB and then hard-clipped at ``(1 - 0.95 *
  severity)`` times its original peak, so the output peak falls to that fraction and
  every sample whose amplified magnitude exceeds it sits at the clip level. At 0.5:
  +3 dB, threshold 0.525 of the peak (samples above 0.37 of the original peak are
  flattened); at 1: +6 dB, threshold 0.05 (nearly a square wave). Deterministic: the
  key is unused.
  """
  del sample_rate, key
  gain = 10.0 ** (CLIP_GAIN_DB * severity / 20.0)
  threshold = (1.0 - CLIP_DEPTH * severity) * jnp.max(jnp.abs(audio))
  return jnp.clip(audio * gain, -threshold, threshold)


def dropout(audio, sample_rate, key, severity):
  """Gaps of exact zeros: lost buffers or packets.

  ``n`` gaps (uniform in 1..4), together ``0.3 * severity`` of the clip: each lasts
  ``round(0.3 * severity * T / n)`` samples and sits at a uniform position inside its
  own ``n``-th of the clip, so gaps never overlap. At 0.5: 15% of the clip missing; at
  1: 30%.
  """
  del sample_rate
  n = audio.shape[-1]
  count_key, where_key = jax.random.split(key)
  count = jax.random.randint(count_key, (), 1, MAX_GAPS + 1)
  gap = jnp.round(DROPOUT_FRACTION * severity * n / count).astype(jnp.int32)
  part = n / count
  slot = jnp.arange(MAX_GAPS)
  offset = jax.random.uniform(where_key, (MAX_GAPS,)) * (part - gap)
  start = jnp.floor(slot * part + offset).astype(jnp.int32)[:, None]
  t = jnp.arange(n)
  in_gap = (slot[:, None] < count) & (t >= start) & (t < start + gap)
  return jnp.where(jnp.any(in_gap, axis=0), 0.0, audio).astype(audio.dtype)


def dc_offset(audio, sample_rate, key, severity):
  """A constant offset: a biased preamp or converter.

  ``0.2 * severity`` of full scale, sign uniform: the mean moves by 0.1 (-20 dBFS) at
  0.5 and by 0.2 at 1 (less where the sum is clipped to [-1, 1]).
  """
  del sample_rate
  return audio + _random_sign(key, audio.dtype) * DC_OFFSET * severity


def noise_burst(audio, sample_rate, key, severity):
  """Short loud broadband bursts: static, a cable knocked, RF interference.

  ``ceil(4 * severity)`` bursts of white Gaussian noise, each 10 to 40 ms long
  (uniform) at a uniform position, with an RMS of ``20 * severity`` dB relative to
  the clip RMS; the burst replaces nothing, it is added. At 0.5: two bursts at +10 dB;
  at 1: four at +20 dB (at full scale they clip).
  """
  n = audio.shape[-1]
  length_key, where_key, noise_key = jax.random.split(key, 3)
  low, high = (min(n, max(1, round(ms * sample_rate / 1000))) for ms in BURST_MS)
  length = jax.random.randint(length_key, (MAX_BURSTS,), low, high + 1)
  start = jnp.floor(jax.random.uniform(where_key, (MAX_BURSTS,)) * (n - length + 1))
  start = start.astype(jnp.int32)[:, None]
  active = jnp.arange(MAX_BURSTS)[:, None] < jnp.ceil(MAX_BURSTS * severity)
  t = jnp.arange(n)
  in_burst = jnp.any(active & (t >= start) & (t < start + length[:, None]), axis=0)
  level = _reference_rms(audio) * 10.0 ** (BURST_DB * severity / 20.0)
  noise = level * jax.random.normal(noise_key, (n,), audio.dtype)
  return audio + jnp.where(in_burst, noise, 0.0).astype(audio.dtype)


def silence(audio, sample_rate, key, severity):
  """A stretch of near-silence: a muted channel, a take that stopped recording.

  ``min(1, 1.25 * severity)`` of the clip, at a uniform position, is replaced by a
  -80 dBFS white noise floor (RMS 1e-4, as a live but silent input). At 0.5: 62.5% of
  the clip; from 0.8 on: the whole clip.
  """
  del sample_rate
  n = audio.shape[-1]
  where_key, noise_key = jax.random.split(key)
  length = jnp.round(jnp.minimum(1.0, SILENCE_RAMP * severity) * n).astype(jnp.int32)
  start = jnp.floor(jax.random.uniform(where_key) * (n - length + 1))
  start = jnp.minimum(start.astype(jnp.int32), n - length)
  t = jnp.arange(n)
  floor = 10.0 ** (SILENCE_FLOOR_DB / 20.0) * jax.random.normal(
    noise_key, (n,), audio.dtype
  )
  return jnp.where((t >= start) & (t < start + length), floor, audio)


def pitch_shift(audio, sample_rate, key, severity):
  """A tape running fast or slow: resampled, so pitch and speed change together.

  The clip is played back at ``2 ** (+-4 * severity / 12)`` times its speed (up or
  down with equal probability), then cut or zero-padded back to its length (a faster
  clip ends in silence). At 0.5: 2 semitones (x1.122 or x0.891); at 1: 4 semitones
  (x1.26 or x0.794).
  """
  semitones = _random_sign(key, audio.dtype) * PITCH_SEMITONES * severity
  return _play_faster(audio, sample_rate, 2.0 ** (semitones / 12.0))


def speed(audio, sample_rate, key, severity):
  """Wow and flutter: the playback rate wobbles sinusoidally around the right one.

  Not a second ``pitch_shift`` (a constant rate change is one): the clip is read
  through a varying delay, ``out(t) = x(t - d(t))`` with ``d(t) = A (1 + sin(2 pi f t
  + phi))``, so the instantaneous speed (and pitch) is ``1 - D cos(2 pi f t + phi)``
  times the right one with peak deviation ``D = 0.04 * severity``, rate ``f``
  log-uniform in 1 to 8 Hz, ``phi`` uniform, and no net change of speed. At 0.5: +-2%
  (+-34 cents, a seasick tape); at 1: +-4% (a badly warped record). The first
  ``2A`` samples (at most 13 ms at 1 Hz) read the start of the clip mirrored.
  """
  n = audio.shape[-1]
  rate_key, phase_key = jax.random.split(key)
  low, high = math.log(WOW_HZ[0]), math.log(WOW_HZ[1])
  rate_hz = jnp.exp(jax.random.uniform(rate_key, (), audio.dtype, low, high))
  phase = jax.random.uniform(phase_key, (), audio.dtype, 0.0, 2 * jnp.pi)
  omega = 2 * jnp.pi * rate_hz / sample_rate  # radians per sample
  amplitude = WOW_DEPTH * severity / omega  # samples
  t = jnp.arange(n)
  # The phase of the modulation from whole cycles removed, exact on long clips.
  cycles = t.astype(audio.dtype) * (rate_hz / sample_rate)
  delay = amplitude * (1.0 + jnp.sin(2 * jnp.pi * (cycles - jnp.floor(cycles)) + phase))
  whole = jnp.floor(-delay)
  index, frac = t + whole.astype(jnp.int32), -delay - whole
  # Before the start: mirror (position -p reads x(p)).
  before = index < 0
  index = jnp.where(before, jnp.where(frac > 0, -index - 1, -index), index)
  frac = jnp.where(before & (frac > 0), 1.0 - frac, frac)
  return _read(audio, index, frac)


def hum(audio, sample_rate, key, severity):
  """Mains hum: a ground loop or an unshielded cable.

  50 or 60 Hz (equal probability) with harmonics 2 to 4 at amplitudes ``1/k`` and
  random phases (harmonics above Nyquist are left out), added at an RMS of ``-30 + 30
  * severity`` dB relative to the clip RMS (none at 0). At 0.5: -15 dB; at 1: 0 dB, as
  loud as the program.
  """
  n = audio.shape[-1]
  mains_key, phase_key = jax.random.split(key)
  mains = jnp.where(jax.random.bernoulli(mains_key), MAINS_HZ[1], MAINS_HZ[0])
  k = np.arange(1, HUM_HARMONICS + 1)
  weight = np.where(k * max(MAINS_HZ) < sample_rate / 2, 1.0 / k, 0.0)
  phase = jax.random.uniform(phase_key, (HUM_HARMONICS,), audio.dtype, 0, 2 * jnp.pi)
  # Integer cycles mod 1 keep the phase exact on long clips (sample_rate not an int:
  # float phase).
  t = jnp.arange(n)
  if float(sample_rate).is_integer() and HUM_HARMONICS * 60 * n < 2**31:
    cycles = ((k[:, None] * mains * t) % int(sample_rate)) / sample_rate
  else:
    cycles = k[:, None] * (mains * t.astype(audio.dtype)) / sample_rate
  waves = jnp.sin(2 * jnp.pi * cycles.astype(audio.dtype) + phase[:, None])
  wave = jnp.asarray(weight, audio.dtype) @ waves
  wave_rms = math.sqrt(float(np.sum(weight**2)) / 2) or 1.0
  level_db = HUM_DB[0] + (HUM_DB[1] - HUM_DB[0]) * severity
  level = _reference_rms(audio) * 10.0 ** (level_db / 20.0) / wave_rms
  return audio + jnp.where(severity > 0, level, 0.0).astype(audio.dtype) * wave


# Glitch kinds, with their run lengths (low, high) in ms; a click lasts 1 to 3 samples.
_GLITCH_MS = {"hold": (1.0, 20.0), "repeat": (5.0, 30.0), "noise": (0.2, 2.0)}


def glitch(audio, sample_rate, key, severity):
  """Digital glitches: a stuck converter, repeated buffers, bit errors, clicks.

  The clip is cut into ``K = round(16 * T / sample_rate)`` equal slots (16 a second);
  ``ceil(severity * K)`` of them, chosen at random (those of a lower severity among
  them), get one glitch each at a uniform position inside the slot, of a uniform
  kind: ``hold`` (one sample held for 1-20 ms), ``repeat`` (the previous 5-30 ms
  played again), ``noise`` (0.2-2 ms of uniform random samples in [-1, 1]) or
  ``click`` (1-3 samples at +-0.5 to 1). At 0.5: 8 glitches a second; at 1: 16.
  """
  n = audio.shape[-1]
  slots = min(n, max(1, round(GLITCHES_PER_SECOND * n / sample_rate)))
  bounds = (np.arange(slots + 1) * n) // slots
  slot_len = jnp.asarray(np.diff(bounds))
  keys = jax.random.split(key, 7)
  rank = jnp.argsort(jnp.argsort(jax.random.uniform(keys[0], (slots,))))
  active = rank < jnp.ceil(severity * slots)
  kind = jax.random.randint(keys[1], (slots,), 0, 4)
  ms = sample_rate / 1000
  low = jnp.asarray([v[0] * ms for v in _GLITCH_MS.values()] + [1.0])[kind]
  high = jnp.asarray([v[1] * ms for v in _GLITCH_MS.values()] + [3.0])[kind]
  length = jnp.floor(low + jax.random.uniform(keys[2], (slots,)) * (high - low + 1))
  length = jnp.clip(length.astype(jnp.int32), 1, slot_len)
  start = jnp.asarray(bounds[:-1]) + jnp.floor(
    jax.random.uniform(keys[3], (slots,)) * (slot_len - length + 1)
  ).astype(jnp.int32)
  click = jax.random.uniform(keys[4], (slots,), audio.dtype, 0.5, 1.0)
  click = click * _random_sign(keys[5], audio.dtype)
  t = jnp.arange(n)
  slot = jnp.searchsorted(jnp.asarray(bounds[1:]), t, side="right")
  run_start, run_length = start[slot], length[slot]
  in_run = active[slot] & (t >= run_start) & (t < run_start + run_length)
  glitched = jnp.select(
    [kind[slot] == 0, kind[slot] == 1, kind[slot] == 2],
    [
      audio[run_start],
      audio[jnp.maximum(t - run_length, 0)],
      jax.random.uniform(keys[6], (n,), audio.dtype, -1.0, 1.0),
    ],
    click[slot],
  )
  return jnp.where(in_run, glitched, audio)


def muffled(audio, sample_rate, key, severity):
  """A muffled take: a covered microphone, a take through a wall or a blanket.

  A zero-phase low-pass whose cutoff ``f_c`` (above which nothing is left) falls
  geometrically from 1.25 x Nyquist (no effect) to 300 Hz: ``f_c = 1.25 f_N (300 /
  (1.25 f_N)) ** severity``; the response is 1 up to ``0.8 f_c`` and falls as a raised
  cosine to 0 at ``f_c`` (-6 dB at ``0.9 f_c``). At 0.5: 1.73 kHz at 16 kHz, 2.9 kHz
  at 44.1 kHz; at 1: 300 Hz. Deterministic: the key is unused.
  """
  del key
  start = MUFFLED_START * sample_rate / 2
  stop_hz = start * (MUFFLED_HZ / start) ** jnp.asarray(severity, audio.dtype)
  return jnp.where(severity > 0, _lowpass(audio, sample_rate, stop_hz), audio)


def wrong_sample_rate(audio, sample_rate, key, severity):
  """Audio recorded at one standard rate and played back at another.

  Severity picks the mismatch: (0, 0.25] 44.1 vs 48 kHz (x1.088, 1.5 semitones),
  (0.25, 0.5] 16 vs 22.05 kHz (x1.378, 5.5 semitones), (0.5, 0.75] 32 vs 48 kHz
  (x1.5), (0.75, 1] 22.05 vs 44.1 kHz (x2, an octave); played faster or slower with
  equal probability, then cut or zero-padded back to the clip's length as in
  ``pitch_shift``.
  """
  ratios = jnp.asarray([1.0] + [b / a for a, b in RATE_MISMATCHES], audio.dtype)
  level = jnp.ceil(len(RATE_MISMATCHES) * jnp.asarray(severity, audio.dtype))
  ratio = ratios[jnp.clip(level.astype(jnp.int32), 0, len(RATE_MISMATCHES))]
  faster = jax.random.bernoulli(key)
  return _play_faster(audio, sample_rate, jnp.where(faster, ratio, 1.0 / ratio))
