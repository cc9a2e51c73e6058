"""Mel images: the dB map inverts exactly; images go back to audio, spectrum kept."""

import jax
import jax.numpy as jnp
import librosa
import numpy as np

from audiojax import features
from audiojax.generate import melimage

SPEC = melimage.MelImageSpec()


def _chord(seconds_samples):
  t = np.arange(seconds_samples) / SPEC.sample_rate
  y = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 330.0, 440.0))
  return (0.3 * y * np.exp(-t)).astype(np.float32)


def test_image_layout_and_range():
  y = jnp.asarray(np.stack([_chord(32000), np.zeros(32000, np.float32)]))
  img = melimage.audio_to_image(y, SPEC)
  assert img.shape == (2, 64, 64, 1) == (2, *SPEC.image_shape)
  assert float(img.min()) >= -1.0 and float(img.max()) <= 1.0
  assert np.all(np.asarray(img[1]) == -1.0)  # Silence sits at the floor.


def test_db_map_round_trips_inside_its_range():
  db = jnp.linspace(SPEC.db_min, SPEC.db_max, 101)
  np.testing.assert_allclose(
    melimage.to_db(melimage.from_db(db, SPEC), SPEC), db, atol=1e-4
  )
  img = melimage.audio_to_image(jnp.asarray(_chord(SPEC.samples)), SPEC)
  power = melimage.image_to_mel_power(img, SPEC)  # [n_mels, frames]
  again = melimage.from_db(10 * jnp.log10(power), SPEC).T[..., None]
  np.testing.assert_allclose(again, img, atol=1e-4)


def test_image_to_audio_keeps_the_spectrum():
  y = jnp.asarray(_chord(SPEC.samples))
  img = melimage.audio_to_image(y, SPEC)
  back = melimage.image_to_audio(img, SPEC, jax.random.key(0), n_iter=32)
  assert back.shape == (SPEC.samples,)
  assert float(jnp.max(jnp.abs(back))) <= 0.9 + 1e-6
  img2 = melimage.audio_to_image(back, SPEC)
  # Level is lost (peak-normalised), shape is kept: compare after removing the mean
  # offset over the bins that carry energy.
  a, b = np.asarray(img)[..., 0], np.asarray(img2)[..., 0]
  loud = a > -0.3
  offset = np.mean(b[loud] - a[loud])
  ours = np.corrcoef(a[loud], b[loud])[0, 1]
  # librosa's own route (NNLS + Griffin-Lim, 32 iterations) as the reference.
  mel = np.asarray(melimage.image_to_mel_power(img, SPEC), np.float64)
  ref = librosa.feature.inverse.mel_to_audio(
    mel,
    sr=SPEC.sample_rate,
    n_fft=SPEC.n_fft,
    hop_length=SPEC.hop_length,
    fmax=SPEC.fmax,
    n_iter=32,
    length=SPEC.samples,
  )
  c = np.asarray(melimage.audio_to_image(jnp.asarray(ref, jnp.float32), SPEC))[..., 0]
  theirs = np.corrcoef(a[loud], c[loud])[0, 1]
  assert ours > 0.85 and ours > theirs - 0.02, (ours, theirs)
  # Within ~8 dB on average (1 image unit = 55 dB) once the level is matched.
  assert np.mean(np.abs(b[loud] - a[loud] - offset)) < 0.15


def test_nnls_inverts_the_mel_projection_of_a_magnitude():
  rng = np.random.default_rng(0)
  mag = np.abs(rng.normal(size=(513, 8))).astype(np.float32)
  mel_args = dict(sr=SPEC.sample_rate, n_fft=SPEC.n_fft, fmax=SPEC.fmax)
  basis = librosa.filters.mel(n_mels=SPEC.n_mels, **mel_args)
  mel = basis @ mag**2
  est = features.mel_to_stft(jnp.asarray(mel), n_iter=200, **mel_args)
  np.testing.assert_allclose(basis @ np.asarray(est) ** 2, mel, rtol=0.05, atol=1e-3)
