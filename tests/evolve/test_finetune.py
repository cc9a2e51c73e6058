"""Reward-weighted regression's training set: the elite, weighted by fitness."""

import numpy as np
import pytest

from audiojax.evolve.finetune import elite_examples
from audiojax.ratings.aggregate import generation_fitness
from audiojax.ratings.db import Rating


def _images(p, k):
  # Row i * k + s holds the number 10 i + s, so rows can be traced.
  return (10 * np.arange(p)[:, None] + np.arange(k)).reshape(-1, 1, 1, 1) * np.ones(
    (1, 2, 3, 1)
  )


def test_elite_examples_are_the_fittest_clips_weighted_by_exp_fitness():
  p, k = 5, 2
  fitness = np.array([0.1, np.nan, 1.0, -2.0, 0.6, 9.0])  # Item P (base) ignored.
  cond = {"family": np.array([3, 4]), "tokens": np.array([[1, 2], [5, 6]])}
  ex = elite_examples(
    _images(p, k), fitness, cond, clips_per_individual=k, elite=3, temperature=0.5
  )
  # Individuals 2, 4, 0 (NaN and the base left out), both slots each.
  np.testing.assert_array_equal(ex["image"][:, 0, 0, 0], [20, 21, 40, 41, 0, 1])
  expected = np.exp((np.array([1.0, 1.0, 0.6, 0.6, 0.1, 0.1]) - 1.0) / 0.5)
  np.testing.assert_allclose(ex["weight"], expected, rtol=1e-6)
  np.testing.assert_array_equal(ex["family"], [3, 4, 3, 4, 3, 4])
  np.testing.assert_array_equal(ex["tokens"][1], [5, 6])
  assert ex["image"].dtype == ex["weight"].dtype == np.float32


def test_elite_examples_without_fitness_or_with_a_bad_temperature():
  cond = {"family": np.array([1])}
  nan = np.full(3, np.nan)
  images = _images(3, 1)
  kw = dict(clips_per_individual=1, elite=2)
  assert elite_examples(images, nan, cond, temperature=1.0, **kw) is None
  with pytest.raises(ValueError, match="temperature"):
    elite_examples(images, np.zeros(3), cond, temperature=0.0, **kw)


def test_generation_fitness_modes_and_bad_names():
  rows = [
    Rating(len(ratings) * r + i, f"r{r}", f"c{i}", stars, 0.0, 0, i)
    for r, ratings in enumerate([[1, 3, 5], [2, 3, 4], [1, 2, 5]])
    for i, stars in enumerate(ratings)
  ]
  value, info = generation_fitness(rows, (), 4, method="mean", weight_raters=False)
  np.testing.assert_allclose(value[:3], [4 / 3, 8 / 3, 14 / 3])
  assert np.isnan(value[3]) and info == {"votes": 9}
  value, _ = generation_fitness(rows, (), 4, method="zscore")
  assert value[0] < value[1] < value[2]
  empty, info = generation_fitness((), (), 4, mode="pairwise")
  assert np.isnan(empty).all() and info == {"votes": 0}
  with pytest.raises(ValueError, match="unknown aggregate 'median'"):
    generation_fitness(rows, (), 4, method="median")
  with pytest.raises(ValueError, match="unknown ratings mode"):
    generation_fitness(rows, (), 4, mode="thumbs")
