"""Tests of the recording faults (audiojax/data/faults.py): the contract of ``inject``
for every registered fault (determinism, shapes, range, severity 0 and 0.5, batches,
damage growing with severity, jit), each fault doing what its docstring says (measured
on test signals made here), and the typed errors for bad arguments.

Every clip is 0.5 s at 16 kHz (one speed test uses 2 s), so each fault compiles once
per shape and dtype and the whole file stays fast.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.data import faults
from audiojax.registry import UnknownNameError

SR = 16000
T = SR // 2  # 0.5 s
NAMES = faults.FAULT_NAMES
KEY = jax.random.key(0)
# Faults whose docstring says the key is unused.
DETERMINISTIC = {"clipping", "muffled"}
# Faults made of random events, where those at a lower severity are a subset of those
# at a higher one (for a fixed key) and the rest of the clip is untouched.
EVENTS = {"dropout", "glitch", "noise_burst", "silence"}


# Test signals (float32 numpy, [T]).


def _time(n=T):
  return np.arange(n) / SR


def _sine(hz, amplitude=0.5, n=T):
  return (amplitude * np.sin(2 * np.pi * hz * _time(n))).astype(np.float32)


def _noise(seed=0, amplitude=0.3, n=T):
  return (
    np.random.default_rng(seed).uniform(-amplitude, amplitude, n).astype(np.float32)
  )


def _program(peak=0.8):
  """A mix of sines (220 Hz, 1.33 kHz, 3.1 kHz) under a 2 Hz envelope, plus a little
  seeded noise: broadband, not periodic, and with no exact zeros."""
  t = _time()
  envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 2 * t)
  tones = (
    0.5 * np.sin(2 * np.pi * 220 * t)
    + 0.3 * np.sin(2 * np.pi * 1330 * t + 1.0)
    + 0.1 * np.sin(2 * np.pi * 3100 * t + 2.0)
  )
  x = envelope * tones + 0.02 * np.random.default_rng(1).standard_normal(T)
  x = (peak * x / np.max(np.abs(x))).astype(np.float32)
  assert np.all(x != 0)
  return x


CLIP = _program()
BATCH = np.stack([CLIP, 0.5 * CLIP[::-1], _noise(2)]).astype(np.float32)


def _inject(name, audio, severity, key=KEY):
  return np.asarray(faults.inject(name, audio, SR, key, severity))


# Measures.


def _rms(x):
  return float(np.sqrt(np.mean(np.square(np.asarray(x, np.float64)))))


def _runs(mask):
  """``(start, length)`` of every run of True in a 1-D boolean mask."""
  edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
  starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
  return list(zip(starts.tolist(), (ends - starts).tolist(), strict=True))


def _dominant_hz(x, n=3600):
  """The frequency of the strongest peak of the first ``n`` samples (Hann window,
  zero-padded FFT, parabolic interpolation of the log magnitude)."""
  x = np.asarray(x[:n], np.float64) * np.hanning(n)
  n_fft = 1 << 17
  magnitude = np.log(np.abs(np.fft.rfft(x, n_fft)) + 1e-12)
  i = int(np.argmax(magnitude[1:-1])) + 1
  a, b, c = magnitude[i - 1 : i + 2]
  return (i + 0.5 * (a - c) / (a - 2 * b + c)) * SR / n_fft


def _instantaneous_hz(x, trim=800, smooth=160):
  """Instantaneous frequency of a (modulated) sine from its analytic signal, edges
  trimmed and smoothed over 10 ms."""
  x = np.asarray(x, np.float64)
  n = len(x)
  h = np.zeros(n)
  h[0] = 1.0
  h[1 : (n + 1) // 2] = 2.0
  if n % 2 == 0:
    h[n // 2] = 1.0
  phase = np.unwrap(np.angle(np.fft.ifft(np.fft.fft(x) * h)))
  hz = np.diff(phase) * SR / (2 * np.pi)
  hz = np.convolve(hz, np.ones(smooth) / smooth, mode="valid")
  return hz[trim:-trim]


def _rms_damage(out, clean):
  return _rms(out - clean)


def _pitch_damage(out, clean):
  return abs(math.log(_dominant_hz(out) / _dominant_hz(clean)))


def _wobble_damage(out, clean):
  del clean
  return float(np.std(_instantaneous_hz(out)))


SINE_1K = _sine(1000.0)
# How damage is measured per fault: a resampled clip is decorrelated from the clean
# one at any severity, so a sample-wise distance saturates; the frequency change (or
# its wobble) is what grows. Any other fault (a new one too): RMS distance on CLIP.
DAMAGE = {
  "pitch_shift": (SINE_1K, _pitch_damage),
  "wrong_sample_rate": (SINE_1K, _pitch_damage),
  "speed": (SINE_1K, _wobble_damage),
}


# The contract of inject, for every fault.


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_the_key(name):
  first = _inject(name, CLIP, 0.5)
  np.testing.assert_array_equal(first, _inject(name, CLIP, 0.5))
  # A legacy uint32 key with the same data is the same key.
  np.testing.assert_array_equal(first, _inject(name, CLIP, 0.5, jax.random.PRNGKey(0)))
  others = [_inject(name, CLIP, 0.5, jax.random.key(seed)) for seed in range(1, 8)]
  distinct = {out.tobytes() for out in [first, *others]}
  if name in DETERMINISTIC:
    assert len(distinct) == 1, f"{name} is documented to ignore the key"
  else:
    assert len(distinct) >= 2, f"{name} gives the same output for 8 different keys"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
  "audio",
  [CLIP, BATCH, CLIP.astype(jnp.bfloat16)],
  ids=["T-float32", "BT-float32", "T-bfloat16"],
)
def test_shape_dtype_and_severity_zero(name, audio):
  for severity in (0.0, 0.5, 1.0):
    out = faults.inject(name, audio, SR, KEY, severity)
    assert out.shape == audio.shape and out.dtype == audio.dtype
    assert np.all(np.isfinite(np.asarray(out, np.float32)))
    if severity == 0.0:
      np.testing.assert_array_equal(np.asarray(out), np.asarray(audio))


@pytest.mark.parametrize("name", NAMES)
def test_output_within_full_scale(name):
  # A clip peaking at exactly full scale: severity 0 keeps the +-1 samples, and the
  # faults that add (dc, hum, bursts, glitches) are clipped back to [-1, 1].
  loud = _program(peak=1.0)
  np.testing.assert_array_equal(_inject(name, loud, 0), loud)
  for severity in (0.5, 1.0):
    for key in (KEY, jax.random.key(1)):
      out = _inject(name, loud, severity, key)
      assert np.all(np.abs(out) <= 1.0), (severity, np.max(np.abs(out)))


@pytest.mark.parametrize("name", NAMES)
def test_half_severity_changes_the_clip(name):
  out = _inject(name, CLIP, 0.5)
  assert _rms(out - CLIP) > 0.05 * _rms(CLIP), f"{name} at 0.5 barely changes it"


@pytest.mark.parametrize("name", NAMES)
def test_batch_rows_are_single_clips_with_folded_keys(name):
  out = _inject(name, BATCH, 0.5)
  for i, row in enumerate(BATCH):
    alone = _inject(name, row, 0.5, jax.random.fold_in(KEY, i))
    # Bit-identical but for float rounding of a batched FFT (the resampling
    # anti-alias filter).
    np.testing.assert_allclose(out[i], alone, rtol=0, atol=1e-4, err_msg=f"row {i}")


@pytest.mark.parametrize("name", NAMES)
def test_damage_grows_with_severity(name):
  clean, measure = DAMAGE.get(name, (CLIP, _rms_damage))
  for seed in range(3):
    key = jax.random.key(seed)
    outs = {s: _inject(name, clean, s, key) for s in (0.25, 0.5, 1.0)}
    damage = [measure(outs[s], clean) for s in (0.25, 0.5, 1.0)]
    assert 0 < damage[0] < damage[1] < damage[2], (seed, damage)
    if name in EVENTS:
      changed = [outs[s] != clean for s in (0.25, 0.5, 1.0)]
      assert not np.any(changed[0] & ~changed[1]), "events at 0.25 not kept at 0.5"
      assert not np.any(changed[1] & ~changed[2]), "events at 0.5 not kept at 1"


@pytest.mark.parametrize("name", NAMES)
def test_inside_jit_with_a_traced_severity(name):
  @jax.jit
  def run(audio, key, severity):
    return faults.inject(name, audio, SR, key, severity)

  for severity in (0.3, 0.8):
    np.testing.assert_allclose(
      np.asarray(run(CLIP, KEY, severity)),
      _inject(name, CLIP, severity),
      rtol=0,
      atol=1e-6,
    )
  # A traced severity is not checked, only clipped to [0, 1].
  np.testing.assert_array_equal(np.asarray(run(CLIP, KEY, -0.5)), CLIP)
  np.testing.assert_allclose(
    np.asarray(run(CLIP, KEY, 1.5)), _inject(name, CLIP, 1.0), rtol=0, atol=1e-6
  )
  if hasattr(run, "_cache_size"):  # one compile for every traced severity
    assert run._cache_size() == 1


def test_sweeping_severity_does_not_recompile():
  if not hasattr(faults._inject, "_cache_size"):
    pytest.skip("this jax has no jit _cache_size")
  audio = _noise(3)
  faults.inject("hum", audio, SR, KEY, 0.5)
  size = faults._inject._cache_size()
  sweep = (0, 1, 0.1, 0.37, 0.9, np.float32(0.3), np.float64(0.6), jnp.asarray(0.2))
  for severity in sweep:
    faults.inject("hum", audio, SR, KEY, severity)
    faults.inject("hum", audio, SR, jax.random.key(7), severity)
  assert faults._inject._cache_size() == size


# Each fault does what its docstring says.


def test_clipping_flattens_the_peaks():
  sine = _sine(440.0, amplitude=0.8)
  for severity, threshold in ((0.5, 0.525), (1.0, 0.05)):
    out = _inject("clipping", sine, severity)
    peak = np.max(np.abs(out))
    np.testing.assert_allclose(peak, threshold * 0.8, rtol=1e-5)
    # Every sample whose amplified magnitude passes the threshold sits at it: 76% of
    # a sine at 0.5, 98% at 1.
    gain = 10 ** (6 * severity / 20)
    flattened = np.mean(np.abs(out) == peak)
    expected = 1 - 2 / np.pi * np.arcsin(threshold / gain)
    assert abs(flattened - expected) < 0.01, (flattened, expected)
    below = np.abs(sine * gain) < 0.99 * peak
    np.testing.assert_allclose(out[below], sine[below] * gain, rtol=1e-5)
    assert np.all(np.sign(out) == np.sign(sine))


def test_dropout_makes_runs_of_exact_zeros():
  counts = set()
  for seed in range(8):
    key = jax.random.key(seed)
    for severity in (0.5, 1.0):
      out = _inject("dropout", CLIP, severity, key)
      gaps = _runs(out == 0)
      assert 1 <= len(gaps) <= 4
      # Equal gaps, together 0.3 * severity of the clip (up to rounding per gap).
      lengths = {length for _, length in gaps}
      assert len(lengths) == 1, gaps
      total = sum(length for _, length in gaps)
      assert abs(total - 0.3 * severity * T) <= len(gaps), (total, severity)
      kept = out != 0
      np.testing.assert_array_equal(out[kept], CLIP[kept])
      counts.add(len(gaps))
  assert len(counts) >= 2, f"always {counts} gaps"


def test_dc_offset_shifts_the_mean():
  sine = _sine(440.0)  # 220 whole cycles: mean 0
  signs = set()
  for seed in range(6):
    key = jax.random.key(seed)
    half, full = (_inject("dc_offset", sine, s, key) - sine for s in (0.5, 1.0))
    for shift, offset in ((half, 0.1), (full, 0.2)):
      np.testing.assert_allclose(np.abs(shift), offset, rtol=1e-5)
      assert np.all(shift == shift[0]) or np.ptp(shift) < 1e-6
    assert abs(np.mean(half + sine) - np.mean(sine) - half[0]) < 1e-6
    assert np.sign(half[0]) == np.sign(full[0])
    signs.add(float(np.sign(half[0])))
  assert signs == {-1.0, 1.0}


def test_noise_burst_adds_energy_only_in_short_windows():
  quiet = _sine(440.0, amplitude=0.05)
  low, high = 160, 640  # 10 to 40 ms
  for seed in range(4):
    key = jax.random.key(seed)
    for severity, bursts, db in ((0.5, 2, 10.0), (1.0, 4, 20.0)):
      added = _inject("noise_burst", quiet, severity, key) - quiet
      windows = _runs(added != 0)
      assert 1 <= len(windows) <= bursts
      total = sum(length for _, length in windows)
      assert low <= total <= bursts * high, total
      assert max(length for _, length in windows) <= bursts * high
      inside = added[added != 0]
      expected = _rms(quiet) * 10 ** (db / 20)
      assert abs(_rms(inside) / expected - 1) < 0.2, (_rms(inside), expected)
    # At 0.5 at most 16% of the clip (2 x 40 ms of 500 ms) is touched.
    assert np.mean(_inject("noise_burst", quiet, 0.5, key) != quiet) <= 0.161


def test_silence_replaces_a_stretch_with_a_noise_floor():
  starts = set()
  for seed in range(4):
    key = jax.random.key(seed)
    out = _inject("silence", CLIP, 0.5, key)
    (start, length), *rest = _runs(out != CLIP)
    assert not rest and length == round(0.625 * T)
    starts.add(start)
    db = 20 * math.log10(_rms(out[start : start + length]))
    assert abs(db + 80) < 1.0, db
    for severity in (0.8, 1.0):  # from 0.8 on: the whole clip
      whole = _inject("silence", CLIP, severity, key)
      assert abs(20 * math.log10(_rms(whole)) + 80) < 1.0
      assert np.max(np.abs(whole)) < 1e-3
  assert len(starts) > 1


@pytest.mark.parametrize(
  "name, severity, factor",
  [
    ("pitch_shift", 0.5, 2 ** (2 / 12)),
    ("pitch_shift", 1.0, 2 ** (4 / 12)),
    ("wrong_sample_rate", 0.2, 48000 / 44100),
    ("wrong_sample_rate", 0.3, 22050 / 16000),
    ("wrong_sample_rate", 0.75, 48000 / 32000),
    ("wrong_sample_rate", 1.0, 2.0),
  ],
)
def test_resampling_moves_the_frequency_by_the_factor(name, severity, factor):
  assert abs(_dominant_hz(SINE_1K) - 1000) < 0.5
  ratios = set()
  for seed in range(6):
    ratio = _dominant_hz(_inject(name, SINE_1K, severity, jax.random.key(seed))) / 1000
    faster = ratio > 1
    assert abs(ratio / (factor if faster else 1 / factor) - 1) < 2e-3, (ratio, factor)
    ratios.add(faster)
  assert ratios == {True, False}, "only one direction in 6 keys"


def test_pitch_shift_faster_clip_ends_in_silence():
  for seed in range(4):
    out = _inject("pitch_shift", SINE_1K, 1.0, jax.random.key(seed))
    if _dominant_hz(out) > 1000:
      # Read 1.26 times as fast, the source runs out after T / 1.26 samples.
      end = int(np.ceil(T / 2 ** (4 / 12))) + 1
      assert np.all(out[end:] == 0) and _rms(out[: end - 100]) > 0.3
      return
  pytest.fail("no key played faster")


def test_reading_faster_low_passes_first():
  # x2 faster: a 5 kHz sine would land at 10 kHz, above the 8 kHz Nyquist, and alias
  # to 6 kHz; the source is low-passed at 4 kHz first, so nothing is left. Read x2
  # slower it becomes 2.5 kHz.
  sine = _sine(5000.0)
  directions = set()
  for seed in range(6):
    out = _inject("wrong_sample_rate", sine, 1.0, jax.random.key(seed))
    valid = out[200 : T // 2 - 200]  # the read part, away from the filter's edges
    if _rms(valid) < 1e-3 * _rms(sine):
      directions.add("faster")
    else:
      assert abs(_dominant_hz(out) - 2500) < 5
      directions.add("slower")
  assert directions == {"faster", "slower"}


def test_speed_wobbles_around_the_right_frequency():
  n = 4 * T  # 2 s: at least two wow cycles
  sine = _sine(1000.0, n=n)
  clean = _instantaneous_hz(sine)
  assert np.max(np.abs(clean - 1000)) < 0.5
  for seed in range(3):
    key = jax.random.key(seed)
    for severity in (0.5, 1.0):
      hz = _instantaneous_hz(_inject("speed", sine, severity, key))
      depth = 0.04 * severity * 1000  # +-2% at 0.5, +-4% at 1
      # No net change of speed (the delay stays under 2 * depth / omega samples)...
      assert abs(np.mean(hz) - 1000) < 0.25 * depth, (np.mean(hz), depth)
      # ...but the instantaneous frequency swings by +-depth around it.
      swing = (np.max(hz) - np.min(hz)) / 2
      assert abs(swing / depth - 1) < 0.1, (swing, depth)


@pytest.mark.parametrize("clean", ["program", "silent"])
def test_hum_adds_mains_and_harmonics(clean):
  audio = 0.5 * CLIP if clean == "program" else np.zeros(T, np.float32)
  reference = max(_rms(audio), 0.01)  # levels are relative to at least -40 dBFS
  mains_seen = set()
  for seed in range(6):
    key = jax.random.key(seed)
    for severity, db in ((0.5, -15.0), (1.0, 0.0)):
      added = _inject("hum", audio, severity, key) - audio
      assert abs(20 * math.log10(_rms(added) / reference) - db) < 0.2
      # 0.5 s holds whole cycles of 50 and 60 Hz: bins are 2 Hz wide, no leakage.
      spectrum = np.abs(np.fft.rfft(added))
      hz = np.fft.rfftfreq(T, 1 / SR)
      mains = 50 if spectrum[hz == 50] > spectrum[hz == 60] else 60
      mains_seen.add(mains)
      harmonics = np.array([np.flatnonzero(hz == k * mains)[0] for k in range(1, 5)])
      energy = spectrum**2
      assert energy[harmonics].sum() > 0.999 * energy.sum()
      np.testing.assert_allclose(
        spectrum[harmonics] / spectrum[harmonics[0]], 1 / np.arange(1, 5), rtol=1e-3
      )
  assert mains_seen == {50, 60}


def test_glitch_changes_short_regions():
  noise = _noise(4)
  slots = 8  # 16 a second, of 1000 samples each
  longest = 481  # the longest glitch: a 30 ms repeat
  for seed in range(4):
    key = jax.random.key(seed)
    for severity in (0.25, 0.5, 1.0):
      changed = (_inject("glitch", noise, severity, key) != noise).reshape(slots, -1)
      touched = np.flatnonzero(changed.any(axis=1))
      assert len(touched) == math.ceil(severity * slots), (severity, touched)
      for slot in touched:
        where = np.flatnonzero(changed[slot])
        assert where[-1] - where[0] < longest, (slot, where[0], where[-1])


def test_muffled_removes_energy_above_the_cutoff():
  middle = slice(T // 4, 3 * T // 4)  # away from the filter's edge transients

  def kept(hz, severity):
    sine = _sine(hz)
    out = _inject("muffled", sine, severity)
    return _rms(out[middle]) / _rms(sine[middle])

  # At 1: 300 Hz (flat to 240 Hz); at 0.5: 1.73 kHz (flat to 1.39 kHz).
  assert kept(4000, 1.0) < 1e-3 and kept(4000, 0.5) < 1e-3
  assert abs(kept(200, 1.0) - 1) < 1e-3 and abs(kept(1000, 0.5) - 1) < 1e-3
  assert kept(1000, 1.0) < 1e-3
  # Broadband noise: nothing left above the 0.5 cutoff (a Hann window keeps the
  # clip's own edges from leaking).
  noise = _noise(5)
  window = np.hanning(T)
  before = np.abs(np.fft.rfft(noise * window)) ** 2
  after = np.abs(np.fft.rfft(_inject("muffled", noise, 0.5) * window)) ** 2
  above = np.fft.rfftfreq(T, 1 / SR) > 1.1 * 1730
  assert after[above].sum() < 1e-6 * before[above].sum()
  assert abs(after[~above].sum() / before[~above].sum() - 1) < 0.2
  # No circular wrap: a burst of tone at the end of the clip does not leak into its
  # start.
  tail = np.where(np.arange(T) >= 7 * T // 8, _sine(200), 0).astype(np.float32)
  out = _inject("muffled", tail, 1.0)
  assert np.max(np.abs(out[: T // 2])) < 1e-4
  assert _rms(out[7 * T // 8 + 200 : -200]) > 0.3


# Errors.


def test_unknown_fault_lists_the_names():
  for name in ("clipped", "", None, []):
    with pytest.raises(faults.UnknownFaultError) as info:
      faults.inject(name, CLIP, SR, KEY, 0.5)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, faults.FaultError)
    assert isinstance(info.value, UnknownNameError)
    assert all(valid in str(info.value) for valid in NAMES)


@pytest.mark.parametrize(
  "severity",
  [-0.1, 1.01, 2, float("nan"), float("inf"), -float("inf"), True, False]
  + [np.True_, "0.5", None, 0.5j, [0.5], np.array([0.5]), jnp.array([0.5, 0.5])],
  ids=repr,
)
def test_bad_severity(severity):
  with pytest.raises(faults.FaultError, match="severity"):
    faults.inject("hum", CLIP, SR, KEY, severity)


def test_good_severity_types():
  expected = _inject("hum", CLIP, 0.5)
  for severity in (np.float32(0.5), np.float64(0.5), jnp.asarray(0.5), np.array(0.5)):
    np.testing.assert_array_equal(_inject("hum", CLIP, severity), expected)
  np.testing.assert_array_equal(_inject("hum", CLIP, 1), _inject("hum", CLIP, 1.0))


@pytest.mark.parametrize(
  "audio, match",
  [
    ((CLIP * 32767).astype(np.int16), "dtype int16"),
    (np.zeros(T, np.int32), "dtype int32"),
    (np.zeros(T, bool), "dtype bool"),
    (CLIP[None, None], r"shape \(1, 1, 8000\)"),
    (np.float32(0.5), r"shape \(\)"),
    (np.zeros(0, np.float32), "at least one sample"),
    (np.zeros((2, 0), np.float32), "at least one sample"),
    ("audio", "must be an array"),
    (object(), "must be an array"),
  ],
  ids=["int16", "int32", "bool", "3-D", "0-D", "empty", "empty-rows", "str", "object"],
)
def test_bad_audio(audio, match):
  with pytest.raises(faults.FaultError, match=match):
    faults.inject("hum", audio, SR, KEY, 0.5)


@pytest.mark.parametrize(
  "sample_rate",
  [0, -16000, 0.0, float("nan"), float("inf"), True, "16000", None, [16000]],
  ids=repr,
)
def test_bad_sample_rate(sample_rate):
  with pytest.raises(faults.FaultError, match="sample_rate"):
    faults.inject("hum", CLIP, sample_rate, KEY, 0.5)


@pytest.mark.parametrize(
  "key",
  [
    None,
    0,
    jax.random.split(KEY, 2),
    jax.random.split(jax.random.PRNGKey(0), 2),
    jnp.zeros(2, jnp.float32),
    jnp.zeros(2, jnp.int32),
    jnp.zeros(3, jnp.uint32),
    jnp.zeros((), jnp.uint32),
  ],
  ids=[
    "None",
    "int",
    "typed-batch",
    "raw-batch",
    "float",
    "int32",
    "raw-wrong-length",
    "raw-0d",
  ],
)
def test_bad_key(key):
  with pytest.raises(faults.FaultError, match="key"):
    faults.inject("hum", CLIP, SR, key, 0.5)


def test_traced_sample_rate_is_an_error():
  with pytest.raises(faults.FaultError, match="sample_rate"):
    jax.jit(lambda sr: faults.inject("hum", CLIP, sr, KEY, 0.5))(SR)
