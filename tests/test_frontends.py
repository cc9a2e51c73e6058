"""The front-end registry: names, shapes, librosa parity, independence and gradients."""

import functools

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import scipy.fft

from audiojax import frontends
from audiojax.frontends import FRONTENDS

SR = 16000
N = 4000
FRAMES = 1 + N // 256
SHAPES = {
  "fft": (N // 2 + 1, 1),
  "raw": (N, 1),
  "mel": (FRAMES, 64),
  "mfcc": (FRAMES, 20),
}


@pytest.fixture(scope="module")
def waves():
  rng = np.random.default_rng(0)
  t = np.arange(N) / SR
  tone = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-4 * t)
  return np.stack([rng.uniform(-0.5, 0.5, N), tone]).astype(np.float32)


@functools.cache
def _jitted(name, **kwargs):
  return jax.jit(FRONTENDS.get(name)(SR, **kwargs))


def test_registry_names_and_unknown_name():
  assert list(FRONTENDS) == ["fft", "mel", "mfcc", "raw"] == sorted(SHAPES)
  with pytest.raises(KeyError, match="'spectrogram'.*valid names: fft, mel, mfcc"):
    FRONTENDS.get("spectrogram")


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_time_major_shapes(name, waves):
  out = _jitted(name)(waves)
  assert out.shape == (2, *SHAPES[name])
  assert out.dtype == jnp.float32


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_examples_do_not_interact(name, waves):
  # Fixed dB reference, no top_db: rescaling a neighbour leaves an example unchanged.
  alone = _jitted(name)(waves)
  mixed = _jitted(name)(np.stack([waves[0], 0.001 * waves[1]]))
  np.testing.assert_array_equal(alone[0], mixed[0])


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_gradient_is_finite_and_nonzero(name, waves):
  weights = np.random.default_rng(1).normal(size=(2, *SHAPES[name]))
  fe = FRONTENDS.get(name)(SR)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(weights * fe(x))))(waves)
  assert np.isfinite(np.asarray(grad)).all()
  assert (np.abs(np.asarray(grad)) > 0).mean() > 0.9


def test_fft_is_the_spectrum_of_the_smoothed_segment(waves):
  # Chatterjee et al.'s ECG input, computed independently with numpy.
  smooth = np.stack([np.convolve(w, np.ones(5) / 5, mode="same") for w in waves])
  smooth -= smooth.mean(axis=1, keepdims=True)
  want = np.log1p(np.abs(np.fft.rfft(smooth, axis=1)))
  np.testing.assert_allclose(_jitted("fft")(waves)[..., 0], want, atol=2e-4)
  raw = jax.jit(FRONTENDS.get("fft")(SR, smooth=1, log=False))(waves)[..., 0]
  centred = waves - waves.mean(axis=1, keepdims=True)
  np.testing.assert_allclose(raw, np.abs(np.fft.rfft(centred, axis=1)), atol=2e-3)


def test_mel_is_scaled_librosa_log_mel_and_mfcc_its_dct(waves):
  mel = np.asarray(_jitted("mel")(waves))
  ref = librosa.power_to_db(
    librosa.feature.melspectrogram(
      y=waves.astype(np.float64), sr=SR, n_fft=1024, hop_length=256, n_mels=64
    ),
    ref=1.0,
    top_db=None,
  )
  ref = np.swapaxes(ref, -1, -2) / frontends.DB_SCALE
  # 1e-3 dB within 60 dB of each clip's peak (float32's floor is lower down).
  near_peak = ref > ref.max(axis=(1, 2), keepdims=True) - 60 / frontends.DB_SCALE
  assert near_peak.mean() > 0.5
  assert np.abs(mel - ref)[near_peak].max() < 1e-3 / frontends.DB_SCALE
  mfcc = np.asarray(_jitted("mfcc")(waves))
  expected = scipy.fft.dct(mel.astype(np.float64), type=2, norm="ortho", axis=-1)
  np.testing.assert_allclose(mfcc, expected[..., :20], rtol=1e-4, atol=1e-4)


def test_options_reach_the_features(waves):
  out = _jitted("mfcc", n_fft=400, hop_length=160, n_mels=40, n_mfcc=13)(waves)
  assert out.shape == (2, 1 + N // 160, 13)
  raw = _jitted("raw")(waves)
  np.testing.assert_array_equal(raw[..., 0], waves)


def test_bad_inputs_raise_with_the_value(waves):
  with pytest.raises(ValueError, match=r"\[batch, samples\].*\(4000,\)"):
    FRONTENDS.get("mel")(SR)(waves[0])
  with pytest.raises(ValueError, match="sample_rate.*0"):
    FRONTENDS.get("raw")(0)
  with pytest.raises(TypeError, match="n_mfcc"):
    FRONTENDS.get("mel")(SR, n_mfcc=13)
