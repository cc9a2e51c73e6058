"""Generator metrics against closed forms and obvious orderings."""

import numpy as np
import pytest

from audiojax.evaluators import frechet
from audiojax.generate import metrics

SR = 16000


def test_frechet_distance_of_gaussians_matches_the_closed_form():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(20000, 3))
  b = 2.0 * rng.normal(size=(20000, 3)) + np.array([1.0, 0.0, 0.0])
  # |mu_a - mu_b|^2 + tr(I + 4I - 2 * 2I) = 1 + 3.
  assert frechet.frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)
  assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
  with pytest.raises(ValueError, match="equal D"):
    frechet.frechet_distance(a, b[:, :2])


def _notes(onset_every, seconds=2.0):
  t = np.arange(int(seconds * SR)) / SR
  phase = (t % onset_every) / onset_every
  return (np.sin(2 * np.pi * 440 * t) * np.exp(-8 * phase * onset_every)).astype(
    np.float32
  )


def test_onset_ratio_prefers_crisp_onsets():
  plucked = np.stack([_notes(0.25), _notes(0.5)])
  rng = np.random.default_rng(1)
  drone = (
    0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * SR) / SR)
    + 0.01 * rng.normal(size=(2, 2 * SR))
  ).astype(np.float32)
  assert metrics.onset_ratio(plucked, plucked, SR) == pytest.approx(1.0)
  assert metrics.onset_ratio(drone, plucked, SR) < 0.5


def test_continuity_ratio_sees_jitter():
  rng = np.random.default_rng(2)
  smooth = np.cumsum(0.01 * rng.normal(size=(4, 32, 8, 1)), axis=1)
  jittery = smooth + 0.1 * rng.normal(size=smooth.shape)
  assert metrics.continuity_ratio(smooth, smooth) == pytest.approx(1.0)
  assert metrics.continuity_ratio(jittery, smooth) > 5


def test_class_probe_accuracy_counts_matches():
  logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
  assert frechet.class_probe_accuracy(logits, np.array([0, 1, 1])) == pytest.approx(
    2 / 3
  )
