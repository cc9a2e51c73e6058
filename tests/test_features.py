"""Parity of audiojax.features with librosa 0.11, and its batching, jit and gradients.

Metrics: for spectrogram-like outputs "relative error" is the largest absolute
difference divided by the largest absolute reference value, per example (a bin many
decades below the peak is not held to a relative bound of its own: float32 cannot, and
the dB tests bound those bins on the log scale instead). dB outputs are compared by the
largest absolute difference in dB. References are librosa in float64 on the same input.
"""

import functools
import os
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import soundfile as sf

from audiojax import features
from audiojax.features._fft import _irfft, _rfft

SR = 8000
N = 6000

CONFIGS = {
    # librosa's defaults but for sizes.
    "hann": dict(n_fft=512, hop_length=128, n_mels=40),
    "hamming_htk": dict(
        n_fft=400, hop_length=160, win_length=320, window="hamming", n_mels=32,
        htk=True, norm=None,
    ),
    "uncentered_band": dict(
        n_fft=256, hop_length=64, center=False, n_mels=24, fmin=50.0, fmax=3500.0
    ),
    # hop 16 < n_fft / 16 takes the gather framing path.
    "reflect_kaiser": dict(
        n_fft=512, hop_length=16, window=("kaiser", 8.0), pad_mode="reflect", n_mels=40
    ),
}  # fmt: skip
_STFT_KEYS = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")


def _stft_args(cfg):
  return {k: v for k, v in cfg.items() if k in _STFT_KEYS}


def _rel_err(out, ref):
  out, ref = np.asarray(out), np.asarray(ref)
  assert out.shape == ref.shape
  axes = tuple(range(1, ref.ndim))
  return float(np.max(np.abs(out - ref).max(axes) / np.abs(ref).max(axes)))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
  """[noise, speech, chord], each N samples at SR, float64."""
  flite = shutil.which("flite")
  if flite is None:
    pytest.skip("Debian flite is needed to render the speech clip")
  wav = tmp_path_factory.mktemp("speech") / "yes.wav"
  subprocess.run([flite, "-t", "yes", "-o", str(wav)], check=True)
  speech, rate = sf.read(wav)
  assert rate == SR
  speech = librosa.util.fix_length(speech, size=N)
  t = np.arange(N) / SR
  chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
  chord *= 0.2 * np.exp(-3 * t)
  noise = np.random.default_rng(0).uniform(-0.5, 0.5, N)
  return np.stack([noise, speech, chord])


@functools.cache
def _all_features(name):
  """One jitted function per config computes everything compared below."""
  cfg = CONFIGS[name]

  def fn(y):
    mel = features.melspectrogram(y=y, sr=SR, **cfg)
    stft = features.stft(y, **_stft_args(cfg))
    mel_args = {k: v for k, v in cfg.items() if k not in _STFT_KEYS}
    return {
      "stft": stft,
      "mel": mel,
      "mel_from_S": features.melspectrogram(
        S=jnp.abs(stft) ** 2, sr=SR, n_fft=cfg["n_fft"], **mel_args
      ),
      "db": features.power_to_db(mel),
      "db_max": features.power_to_db(mel, ref=jnp.max),
      "db_raw": features.power_to_db(mel, top_db=None),
      "amp_db": features.amplitude_to_db(jnp.sqrt(mel), ref=jnp.max),
      "mfcc": features.mfcc(y=y, sr=SR, n_mfcc=13, **cfg),
      "mfcc_lifter": features.mfcc(y=y, sr=SR, n_mfcc=13, lifter=22, **cfg),
    }

  return jax.jit(fn)


def _librosa_features(y, cfg):
  mel = librosa.feature.melspectrogram(y=y, sr=SR, **cfg)
  return {
    "stft": librosa.stft(y, **_stft_args(cfg)),
    "mel": mel,
    "db": librosa.power_to_db(mel),
    "db_max": librosa.power_to_db(mel, ref=np.max),
    "db_raw": librosa.power_to_db(mel, top_db=None),
    "amp_db": librosa.amplitude_to_db(np.sqrt(mel), ref=np.max),
    "mfcc": librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, **cfg),
    "mfcc_lifter": librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, lifter=22, **cfg),
  }


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def parity(request, clips):
  """(config name, ours on the batch, librosa per clip stacked)."""
  name = request.param
  ours = _all_features(name)(jnp.asarray(clips, jnp.float32))
  refs = [_librosa_features(c, CONFIGS[name]) for c in clips]
  return name, ours, {k: np.stack([r[k] for r in refs]) for k in refs[0]}


def test_stft_matches_librosa(parity):
  _, ours, ref = parity
  assert ours["stft"].dtype == jnp.complex64
  assert _rel_err(ours["stft"], ref["stft"]) < 2e-6


def test_melspectrogram_matches_librosa(parity):
  _, ours, ref = parity
  assert _rel_err(ours["mel"], ref["mel"]) < 1e-5
  assert _rel_err(ours["mel_from_S"], ref["mel"]) < 1e-5


@pytest.mark.parametrize("key", ["db", "db_max", "amp_db", "db_raw"])
def test_decibels_match_librosa(parity, key):
  # float32 FFT rounding is ~1.6e-7 of a frame's peak magnitude, so a bin L dB below
  # the peak carries ~1e-3 * 10 ** ((L - 80) / 20) dB of error (librosa's float32 path
  # runs its FFT in float64): 1e-3 dB holds to 60 dB below each example's peak, a few
  # 1e-3 dB at top_db's 80, ~0.02 dB at -110 dB (only reachable with top_db=None).
  _, ours, ref = parity
  err = np.abs(np.asarray(ours[key]) - ref[key])
  below_peak = ref[key].max(axis=(1, 2), keepdims=True) - ref[key]
  assert (below_peak < 60).mean() > 0.3
  assert err[below_peak < 60].max() < 1e-3
  assert err[below_peak <= 80].max() < 5e-3


@pytest.mark.parametrize("key", ["mfcc", "mfcc_lifter"])
def test_mfcc_matches_librosa(parity, key):
  _, ours, ref = parity
  assert _rel_err(ours[key], ref[key]) < 1e-4


def test_istft_matches_librosa_and_inverts_stft(parity, clips):
  name, ours, ref = parity
  cfg = _stft_args(CONFIGS[name])
  cfg.pop("pad_mode", None)
  y = features.istft(ours["stft"], length=N, **cfg)
  expected = librosa.istft(ref["stft"], length=N, **cfg)
  # istft divides by the window envelope; where it nears zero (the ends of uncentered
  # frames) float32 rounding is amplified, so compare where it is >= 1% of its peak.
  cfg.pop("center", None)
  envelope = librosa.filters.window_sumsquare(
    window=cfg.pop("window", "hann"), n_frames=ref["stft"].shape[-1], **cfg
  )
  centered = CONFIGS[name].get("center", True)
  start = cfg["n_fft"] // 2 if centered else 0
  envelope = librosa.util.fix_length(envelope[start:], size=N)
  covered = envelope >= 0.01 * envelope.max()
  assert covered.mean() > 0.9
  assert _rel_err(np.asarray(y)[:, covered], expected[:, covered]) < 1e-5
  if centered:  # Uncentered frames do not cover the ends.
    assert _rel_err(y, clips) < 1e-5


def test_batched_equals_per_example_and_jit_equals_eager(clips):
  cfg = CONFIGS["hann"]
  fn = lambda y: features.mfcc(y=y, sr=SR, **cfg)  # noqa: E731
  y = jnp.asarray(clips, jnp.float32)
  batched = np.asarray(jax.jit(fn)(y.reshape(3, 1, N)))[:, 0]
  single = np.stack([np.asarray(jax.jit(fn)(c)) for c in y])
  eager = np.asarray(fn(y))
  # Not bitwise: XLA vectorises a batch differently from a single clip.
  assert _rel_err(batched, single) < 1e-6
  assert _rel_err(eager, single) < 1e-6
  # top_db clips each example at its own peak: a loud neighbour changes nothing.
  loud = np.asarray(jax.jit(fn)(jnp.stack([y[1], 100 * y[0]])))[:1]
  assert _rel_err(loud, single[1:2]) < 1e-6


def test_chunked_batch_matches_librosa_and_one_pass(monkeypatch):
  # Large CPU batches run in chunks (a lax.map); force 3 chunks of 2 clips here.
  y = np.random.default_rng(1).uniform(-1, 1, (6, 4000)).astype(np.float32)
  cfg = dict(sr=16000, n_fft=512, hop_length=128, n_mels=40)
  weights = np.random.default_rng(2).normal(size=(6, 40, 1 + 4000 // 128))

  def run():
    fn = lambda y: features.power_to_db(features.melspectrogram(y=y, **cfg))  # noqa: E731
    grad = jax.grad(lambda y: jnp.sum(weights * fn(y)))
    return np.asarray(jax.jit(fn)(y)), np.asarray(jax.jit(grad)(y))

  one_pass, one_pass_grad = run()
  frame_bytes = 4 * 512 * (1 + 4000 // 128)
  monkeypatch.setattr(features, "_UNCHUNKED_BYTES", 0)
  monkeypatch.setattr(features, "_CHUNK_BYTES", 2 * frame_bytes)
  chunked, chunked_grad = run()
  ref = librosa.power_to_db(
    librosa.feature.melspectrogram(y=y.astype(np.float64), **cfg)
  )
  assert np.abs(chunked - ref).max() < 1e-3
  assert _rel_err(chunked, one_pass) < 1e-6
  assert _rel_err(chunked_grad, one_pass_grad) < 1e-5


def _grad_and_difference(loss, x, seed, scale=1.0):
  direction = np.random.default_rng(seed).normal(size=x.shape) * scale
  direction /= np.linalg.norm(direction)
  grad = jax.jit(jax.grad(loss))(jnp.asarray(x, jnp.float32))
  with jax.enable_x64(True):  # The float64 central difference: the reference.
    fd = (loss(x + 1e-5 * direction) - loss(x - 1e-5 * direction)) / 2e-5
  for g in (grad, jax.grad(loss)(jnp.zeros_like(grad))):  # Finite, at silence too.
    assert np.isfinite(np.asarray(g)).all()
  return float(jnp.vdot(grad, direction)), float(fd)


@pytest.mark.parametrize("power", [2.0, 1.0])
def test_gradient_is_finite_and_matches_finite_difference(clips, power):
  cfg = dict(CONFIGS["hann"], power=power)
  if power == 2.0:
    weights = np.random.default_rng(2).normal(size=(3, 13, 1 + N // 128))
    loss = lambda y: jnp.sum(weights * features.mfcc(y=y, sr=SR, n_mfcc=13, **cfg))  # noqa: E731
  else:
    # |X| has a kink at X = 0, so silent or near-empty bins (speech pauses, between
    # the chord's partials) defeat any finite difference: probe the noise clip.
    clips = clips[:1]
    weights = np.random.default_rng(2).normal(size=(1, 40, 1 + N // 128))
    loss = lambda y: jnp.sum(weights * features.melspectrogram(y=y, sr=SR, **cfg))  # noqa: E731
  grad, fd = _grad_and_difference(loss, clips, seed=3)
  assert grad == pytest.approx(fd, rel=1e-4)


def _spectral_convergence(y, S, **stft_args):
  rebuilt = np.abs(librosa.stft(np.asarray(y, np.float64), **stft_args))
  return np.linalg.norm(rebuilt - S) / np.linalg.norm(S)


def test_griffin_lim_converges_like_librosa_and_is_deterministic(clips):
  args = dict(n_fft=256, hop_length=64)
  S = np.abs(librosa.stft(clips[1:], **args))  # speech and chord
  # Three copies: one key draws independent phases for each, i.e. three random starts
  # per clip, since the convergence reached in 32 iterations varies between starts.
  S3 = np.stack([S] * 3)
  gl = jax.jit(
    functools.partial(features.griffin_lim, n_iter=32, length=N, **args),
    static_argnames="init",
  )
  ours = np.asarray(gl(jnp.asarray(S3, jnp.float32), key=jax.random.key(0)))
  assert ours.shape == (3, 2, N)
  np.testing.assert_array_equal(ours, gl(S3.astype(np.float32), key=jax.random.key(0)))
  assert not np.allclose(ours, gl(S3.astype(np.float32), key=jax.random.key(1)))
  theirs = librosa.griffinlim(S3, n_iter=32, length=N, random_state=0, **args)
  for i in range(2):
    ours_sc = np.mean([_spectral_convergence(y, S[i], **args) for y in ours[:, i]])
    theirs_sc = np.mean([_spectral_convergence(y, S[i], **args) for y in theirs[:, i]])
    assert ours_sc < 0.15
    assert ours_sc < 1.2 * theirs_sc
  # From zero phase both are deterministic, so they must agree outright.
  zero = gl(S3.astype(np.float32), init=None)[0]
  theirs_zero = librosa.griffinlim(S, n_iter=32, length=N, init=None, **args)
  assert _rel_err(zero, theirs_zero) < 1e-3


@pytest.mark.parametrize("n", [8, 9])
def test_sharded_fft_gradients_equal_jax_rules(n):
  rng = np.random.default_rng(n)
  x = rng.normal(size=(2, n)).astype(np.float32)
  spectrum = (rng.normal(size=(2, n // 2 + 1)) * (1 + 1j)).astype(np.complex64)
  for ours, theirs, primal, cotangent in (
    (_rfft, jnp.fft.rfft, x, spectrum),
    (lambda s: _irfft(s, n), lambda s: jnp.fft.irfft(s, n), spectrum, x),
  ):
    np.testing.assert_allclose(ours(primal), theirs(primal), atol=1e-5)
    expected = jax.vjp(theirs, primal)[1](cotangent)[0]
    np.testing.assert_allclose(
      jax.vjp(ours, primal)[1](cotangent)[0], expected, atol=1e-5
    )


def test_errors_name_the_offending_value():
  y = jnp.zeros(100)
  with pytest.raises(ValueError, match="pad_mode='wrap'"):
    features.stft(y, n_fft=64, pad_mode="wrap")
  with pytest.raises(ValueError, match="n_fft=256"):
    features.stft(y, n_fft=256, center=False)
  with pytest.raises(ValueError, match="key=None"):
    features.griffin_lim(jnp.ones((33, 4)))
  with pytest.raises(ValueError, match="amin"):
    features.power_to_db(y, amin=0.0)
  with pytest.raises(ValueError, match="n_mfcc=30"):
    features.mfcc(S=jnp.zeros((20, 3)), n_mfcc=30)


def test_fix_length_matches_librosa_keeps_the_array_type_and_differentiates():
  x = np.arange(24, dtype=np.float32).reshape(4, 6)
  for size, axis in [(4, -1), (9, -1), (6, 1), (2, 0), (7, 0)]:  # crop, pad, same
    fix = functools.partial(features.fix_length, size=size, axis=axis)
    for out, kind in ((fix(x), np.ndarray), (jax.jit(fix)(x), jax.Array)):
      assert isinstance(out, kind) and out.dtype == np.float32, (size, axis, kind)
      assert np.array_equal(out, librosa.util.fix_length(x, size=size, axis=axis))
    grad = jax.grad(lambda x, fix=fix: jnp.sum(fix(x)))(jnp.asarray(x))
    assert np.array_equal(grad, np.indices(x.shape)[axis] < size)  # 1 where kept.


def test_spectral_centroid_matches_librosa_and_differentiates(clips):
  y = clips[[0, 2]]  # Noise, chord: float32 rounding, measured <= 5e-7, 2.1e-6.
  for cfg in ({}, dict(n_fft=256, hop_length=64, window="hamming", center=False)):
    ref = librosa.feature.spectral_centroid(y=y, sr=SR, **cfg)
    S = np.abs(librosa.stft(y, **{"n_fft": 2048, "hop_length": 512, **cfg}))
    ours = jax.jit(functools.partial(features.spectral_centroid, sr=SR, **cfg))
    for out in (ours(y=jnp.asarray(y, jnp.float32)), ours(S=S.astype(np.float32))):
      assert out.shape == ref.shape and np.max(np.abs(out - ref) / ref) < 1e-5
  weights = np.random.default_rng(2).normal(size=(1, 1 + N // 512))
  loss = lambda y: jnp.sum(weights * features.spectral_centroid(y=y, sr=SR))
  grad, fd = _grad_and_difference(loss, clips[0], seed=3)  # Noise only, as for |X|.
  assert grad == pytest.approx(fd, rel=1e-4)  # Measured 3e-7.


def test_mel_inversion_matches_librosa_and_differentiates(clips):
  args = dict(sr=SR, n_fft=512)
  mel = functools.partial(librosa.feature.melspectrogram, n_mels=40, **args)
  M = mel(y=clips[[0, 2]], hop_length=128)
  ours = features.mel_to_stft(jnp.asarray(M, jnp.float32), **args)
  # 40 mels leave 257 bins many solutions (spectra differ by 60% of the peak): compare
  # projections. Error / peak measured 4e-6, 1.1e-2 (noise, chord); librosa 6e-2, 0.11.
  theirs = librosa.feature.inverse.mel_to_stft(M, **args)
  errors = [_rel_err(mel(S=np.asarray(S, float) ** 2), M) for S in (ours, theirs)]
  assert ours.shape == theirs.shape and errors[0] < min(0.02, errors[1]), errors
  gl = dict(hop_length=128, n_fft=512, length=N, key=jax.random.key(0))
  audio = features.mel_to_audio(jnp.asarray(M, jnp.float32), sr=SR, **gl)
  np.testing.assert_array_equal(audio, features.griffin_lim(ours, **gl))
  # DC and Nyquist have no mel weight and go to 0 (the root's slope is infinite there).
  # float32 error compounds over 200 updates: <= 3.4e-4 in 10 directions (float64 1e-8).
  weights = np.random.default_rng(4).normal(size=ours.shape)
  loss = lambda M: jnp.sum(weights * features.mel_to_stft(M, **args))
  grad, fd = _grad_and_difference(loss, M, seed=5, scale=M)  # M + h d stays >= 0.
  assert grad == pytest.approx(fd, rel=1e-3)


_SHARDED = textwrap.dedent("""
    import re
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from audiojax import features

    x = np.random.default_rng(0).uniform(-1, 1, (8, 3000)).astype(np.float32)
    cfg = dict(sr=8000, n_fft=256, hop_length=64, n_mels=32)
    log_mel = lambda y: features.power_to_db(features.melspectrogram(y=y, **cfg))
    loss = lambda y: jnp.sum(jnp.sin(log_mel(y)))
    for chunks in (1, 4):  # One pass, and the chunked (lax.map) path.
      features._UNCHUNKED_BYTES = 0 if chunks > 1 else 1 << 40
      features._CHUNK_BYTES = 2 * 4 * 256 * (1 + 3000 // 64)
      fns = {  # Fresh lambdas: jit would reuse traces made under other settings.
          "log_mel": jax.jit(lambda y: log_mel(y)),
          "grad": jax.jit(jax.grad(lambda y: loss(y))),
          "per_example_grad": jax.jit(jax.vmap(jax.grad(lambda y: loss(y)))),
          "istft_grad": jax.jit(jax.grad(lambda y: jnp.sum(jnp.sin(features.istft(
              features.stft(y, n_fft=256, hop_length=64), hop_length=64))))),
      }
      single = {k: np.asarray(f(x)) for k, f in fns.items()}
      for axis_type in (AxisType.Auto, AxisType.Explicit):
        mesh = jax.make_mesh((2,), ("data",), axis_types=(axis_type,))
        with jax.set_mesh(mesh):
          xs = jax.device_put(x, NamedSharding(mesh, P("data")))
          for k, f in fns.items():
            hlo = f.lower(xs).compile().as_text()
            where = (chunks, axis_type, k)
            assert not re.search("all-gather|all-to-all|all-reduce", hlo), where
            assert ("while" in hlo) == (chunks > 1 and k in ("log_mel", "grad")), where
            out = f(xs)
            assert out.sharding.spec[0] == "data", (where, out.sharding)
            np.testing.assert_allclose(np.asarray(out), single[k], 1e-5, 1e-3)
    print("ok")
""")


def test_batch_sharded_over_devices_stays_sharded():
  # XLA replicates FFTs under a mesh unless told otherwise; features tell it the batch
  # axes are independent, so a data-parallel batch (and its gradient) never gathers.
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  proc = subprocess.run(
    [sys.executable, "-c", _SHARDED], env=env, capture_output=True, text=True,
    timeout=300, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  )  # fmt: skip
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip().endswith("ok")
