"""audiojax.quality: SNR, log-spectral distance and PESQ against values known in
closed form or by definition."""

import numpy as np
import pytest

from audiojax import quality

SR = 16000


def _music_like(n=3, seconds=1.0, seed=0):
  """Harmonic tones with decaying partials and a little noise: PESQ scores them."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(SR * seconds)) / SR
  clips = []
  for _ in range(n):
    f0 = rng.uniform(150, 400)
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) + 0.01 * rng.standard_normal(
      t.size
    )
    clips.append(0.5 * x / np.max(np.abs(x)))
  return np.asarray(clips)


def test_snr_of_added_noise_is_its_power_ratio():
  x = _music_like()
  noise = (
    0.1
    * np.std(x, axis=1, keepdims=True)
    * np.random.default_rng(1).standard_normal(x.shape)
  )
  expected = 10 * np.log10(np.sum(x**2, 1) / np.sum(noise**2, 1))
  np.testing.assert_allclose(quality.snr_db(x, x + noise), expected, rtol=1e-12)
  assert np.all(np.isinf(quality.snr_db(x, x)))


def test_log_spectral_distance_is_zero_for_equal_clips_and_the_gain_for_a_gain():
  x = _music_like()
  np.testing.assert_array_equal(quality.log_spectral_distance(x, x), 0.0)
  # A gain g moves every power by 20 log10 g dB (where the power is above the floor).
  np.testing.assert_allclose(
    quality.log_spectral_distance(x, 0.5 * x), 20 * np.log10(2), rtol=1e-3
  )
  lowpassed = np.fft.irfft(
    np.fft.rfft(x) * (np.fft.rfftfreq(x.shape[1], 1 / SR) < 2000), n=x.shape[1]
  )
  mild = np.fft.irfft(
    np.fft.rfft(x) * (np.fft.rfftfreq(x.shape[1], 1 / SR) < 6000), n=x.shape[1]
  )
  lsd_strong = quality.log_spectral_distance(x, lowpassed)
  assert np.all(lsd_strong > quality.log_spectral_distance(x, mild))


def test_pesq_is_near_its_ceiling_for_a_clean_copy_and_lower_for_noise():
  x = _music_like()
  noisy = x + 0.05 * np.random.default_rng(2).standard_normal(x.shape)
  clean, degraded = quality.pesq_wb(x, x), quality.pesq_wb(x, noisy)
  assert np.all(clean > 4.4) and np.all(degraded < clean - 1.0)
  summary = quality.summary(x, noisy)
  assert summary["clips"] == 3 and summary["pesq_scored"] == 3
  assert summary["lsd_db_mean"] > 0 and np.isfinite(summary["snr_db_mean"])


def test_mismatched_or_non_finite_sets_are_refused():
  x = _music_like()
  with pytest.raises(quality.QualityError):
    quality.log_spectral_distance(x, x[:, :-1])
  bad = x.copy()
  bad[0, 0] = np.nan
  with pytest.raises(quality.QualityError):
    quality.snr_db(x, bad)
  with pytest.raises(quality.QualityError):
    quality.pesq_wb(x, x, sample_rate=8000)
