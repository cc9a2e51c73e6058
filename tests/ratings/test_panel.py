"""Simulated raters: a hidden taste measured on the audio, seeded noise, bad actors."""

import dataclasses

import numpy as np
import pytest

from audiojax.ratings import panel as raters

SR = 16000


def _tone(freq):
  t = np.arange(SR) / SR
  return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_brightness_is_the_spectral_centroid():
  c = raters.brightness(np.stack([_tone(500.0), _tone(2000.0)]), SR)
  np.testing.assert_allclose(c, [500.0, 2000.0], rtol=0.05)


def test_honest_raters_prefer_their_target_and_bad_raters_do_not():
  centroids = np.array([250.0, 500.0, 1000.0, 2000.0, 4000.0] * 20)
  ids = [f"clip{i}" for i in range(len(centroids))]
  panel = raters.make_panel(
    0, honest=1, random=1, constant=1, adversarial=1, target_hz=2000.0, noise=0.3
  )
  by_kind = {r.kind: r.rate(ids, centroids) for r in panel}
  honest = by_kind["honest"]
  assert set(np.unique(honest)) <= {1, 2, 3, 4, 5}
  assert honest[centroids == 2000].mean() > honest[centroids == 250].mean() + 2.5
  twin = dataclasses.replace(panel[3], kind="honest")
  np.testing.assert_array_equal(by_kind["adversarial"], 6 - twin.rate(ids, centroids))
  assert np.unique(by_kind["constant"]).size == 1
  assert abs(np.corrcoef(by_kind["random"], honest)[0, 1]) < 0.3


def test_ratings_depend_on_rater_and_clip_only():
  r = raters.make_panel(1, honest=1)[0]
  a = r.rate(["x", "y", "z"], np.array([900.0, 1900.0, 3000.0]))
  b = r.rate(["z", "x"], np.array([3000.0, 900.0]))
  np.testing.assert_array_equal(b, a[[2, 0]])  # Order and company do not matter.
  other = raters.make_panel(2, honest=1)[0]
  many = [f"c{i}" for i in range(200)]
  assert not np.array_equal(
    r.rate(many, np.full(200, 1500.0)), other.rate(many, np.full(200, 1500.0))
  )


def test_pairwise_choice_follows_the_taste():
  r = raters.Rater("p", target_hz=2000.0, noise=0.1)
  wins = sum(r.prefer(f"a{i}", f"b{i}", 1900.0, 400.0) == f"a{i}" for i in range(50))
  assert wins >= 45
  with pytest.raises(ValueError, match="valid names: .*honest"):
    raters.Rater("q", kind="troll")


@pytest.mark.parametrize("target", [float("nan"), 0.0, -100.0])
def test_a_panel_without_a_real_target_is_refused(target):
  with pytest.raises(ValueError, match="target_hz"):
    raters.make_panel(0, honest=2, target_hz=target)
