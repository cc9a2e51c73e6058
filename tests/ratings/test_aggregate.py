"""Ratings to fitness: hand-computed aggregates, Bradley-Terry recovery and its fixed
point, bootstrap coverage, and the spam guard against constant, random and adversarial
raters."""

import numpy as np
import pytest
import scipy.stats

from audiojax.ratings import aggregate as A
from audiojax.ratings import bootstrap as B
from audiojax.ratings import bradley_terry as BT
from audiojax.ratings import panel as raters
from audiojax.ratings.db import Comparison, Rating
from audiojax.ratings.votes import Pairs

# Rater 0 rates items 0,1,2 as 1,3,5; rater 1 rates 0,1 as 4,2; rater 2 rates item 2
# once (4); rater 3 is constant (3, 3). Item 3 is never rated.
HAND = A.Stars(
  rater=[0, 0, 0, 1, 1, 2, 3, 3],
  item=[0, 1, 2, 0, 1, 2, 0, 1],
  rating=[1, 3, 5, 4, 2, 4, 3, 3],
  n_raters=4,
  n_items=4,
)
NAN = np.nan


def test_mean_rating_by_hand():
  fit = A.mean_rating(HAND)
  np.testing.assert_allclose(fit.value, [8 / 3, 8 / 3, 4.5, NAN])
  np.testing.assert_array_equal(fit.count, [3, 3, 2, 0])
  fit = A.mean_rating(HAND, [1.0, 0.5, 1.0, 0.0])
  np.testing.assert_allclose(fit.value, [(1 + 2) / 1.5, (3 + 1) / 1.5, 4.5, NAN])
  np.testing.assert_array_equal(fit.count, [2, 2, 2, 0])


def test_zscore_mean_by_hand_leaves_out_raters_without_a_scale():
  z = np.sqrt(1.5)  # Rater 0: mean 3, population std sqrt(8/3).
  fit = A.zscore_mean(HAND)
  np.testing.assert_allclose(fit.value, [(-z + 1) / 2, (0 - 1) / 2, z, NAN])
  np.testing.assert_array_equal(fit.count, [2, 2, 1, 0])  # Raters 2 and 3 left out.
  fit = A.zscore_mean(HAND, [1.0, 0.5, 1.0, 1.0])
  np.testing.assert_allclose(fit.value[:2], [(-z + 0.5) / 1.5, (0 - 0.5) / 1.5])
  # Invariant to each rater's own offset and scale (a harsh or generous rater).
  shifted = A.Stars(HAND.rater, HAND.item, HAND.rating * 2 + 7, 4, 4)
  np.testing.assert_allclose(A.zscore_mean(shifted).value, A.zscore_mean(HAND).value)
  with pytest.raises(ValueError, match="min_ratings must be >= 2, got 1"):
    A.zscore_mean(HAND, min_ratings=1)


def test_trimmed_mean_by_hand():
  stars = A.Stars(
    rater=np.arange(12),
    item=[0] * 10 + [1] * 2,
    rating=[1, 5, 5, 5, 5, 5, 5, 5, 5, 2, 2, 4],
    n_raters=12,
    n_items=3,
  )
  fit = A.trimmed_mean(stars, 0.1)  # Cuts the 1 and the 5 from item 0.
  np.testing.assert_allclose(fit.value, [(5 * 7 + 2) / 8, 3.0, NAN])
  np.testing.assert_array_equal(fit.count, [10, 2, 0])
  np.testing.assert_allclose(A.trimmed_mean(stars, 0.0).value[0], 4.3)


def test_rows_from_the_store_become_indexed_votes():
  rows = [
    Rating(1, "zed", "a", 5, 0.0, 3, 2),
    Rating(2, "amy", "b", 1, 0.0, 3, 0),
    Rating(3, "zed", "b", 2, 0.0, 3, 0),
  ]
  stars = A.Stars.from_rows(rows)
  assert stars.rater_ids == ("amy", "zed") and stars.n_items == 3
  np.testing.assert_array_equal(stars.rater, [1, 0, 1])
  np.testing.assert_array_equal(stars.item, [2, 0, 0])
  pairs = Pairs.from_rows(
    [
      Comparison(1, "amy", "a", "b", "b", 0.0, 3, 0, 4),
      Comparison(2, "bob", "a", "c", "a", 0.0, 3, 0, 1),
      Comparison(3, "bob", "c", "d", "c", 0.0, 3, 1, 1),  # Same individual: dropped.
    ]
  )
  np.testing.assert_array_equal(pairs.winner, [4, 0])
  np.testing.assert_array_equal(pairs.loser, [0, 1])
  assert pairs.n_items == 5 and pairs.rater_ids == ("amy", "bob")
  with pytest.raises(ValueError, match="item index 4 is outside 0..3"):
    A.Stars([0], [4], [3.0], 1, 4)
  with pytest.raises(ValueError, match="item 2 cannot beat itself"):
    BT.bradley_terry(3, [0, 2], [1, 2])


def _simulated_comparisons(rng, theta, n):
  i, j = rng.integers(0, theta.size, (2, n))
  i, j = i[i != j], j[i != j]
  i_won = rng.random(i.size) < 1 / (1 + np.exp(theta[j] - theta[i]))
  return np.where(i_won, i, j), np.where(i_won, j, i)


def test_bradley_terry_recovers_strengths_at_the_mm_fixed_point():
  rng = np.random.default_rng(0)
  theta = rng.permutation(np.linspace(-2.0, 2.0, 10))
  winners, losers = _simulated_comparisons(rng, theta, 1500)
  prior = 0.5
  est = BT.bradley_terry(10, winners, losers, prior=prior)
  assert abs(est.mean()) < 1e-12
  assert scipy.stats.spearmanr(est, theta)[0] >= 0.9
  assert np.max(np.abs(est - (theta - theta.mean()))) < 0.4
  # Fixed point of the MM update (the score equation of the penalised likelihood):
  # p_i = W_i / sum_j N_ij / (p_i + p_j), wins and games including the prior's.
  n = 10
  wins = np.bincount(winners, minlength=n) + prior
  games = np.full((n, n), 2 * prior / (n - 1))
  np.add.at(games, (winners, losers), 1.0)
  np.add.at(games, (losers, winners), 1.0)
  np.fill_diagonal(games, 0.0)
  p = np.exp(est)
  np.testing.assert_allclose(wins / (games / (p[:, None] + p[None])).sum(1), p, 1e-8)


def test_bradley_terry_prior_and_weights():
  # Item 0 never lost: finite, first, and pulled in by a larger prior.
  winners = [0] * 10 + [0] * 10 + [1] * 5 + [2] * 5
  losers = [1] * 10 + [2] * 10 + [2] * 5 + [1] * 5
  small = BT.bradley_terry(3, winners, losers, prior=0.1)
  large = BT.bradley_terry(3, winners, losers, prior=2.0)
  assert np.all(np.isfinite(small)) and small.argmax() == 0
  assert small[1] == pytest.approx(small[2]) and large[0] < small[0]
  # Doubling every weight and the prior is the same likelihood; a 0-weight vote is none.
  np.testing.assert_allclose(
    BT.bradley_terry(3, winners, losers, weights=np.full(30, 2.0), prior=0.2), small
  )
  np.testing.assert_allclose(
    BT.bradley_terry(3, [*winners, 2], [*losers, 0], weights=[1] * 30 + [0], prior=0.1),
    small,
  )
  pairs = Pairs([0] * 30, winners, losers, 1, 4)
  fit = BT.pairwise_fitness(pairs, prior=0.1)
  np.testing.assert_array_equal(fit.count, [20, 20, 20, 0])
  assert np.isnan(fit.value[3]) and np.nanargmax(fit.value) == 0


def test_bootstrap_ci_covers_the_true_means_and_is_deterministic():
  mu = np.array([1.5, 2.5, 3.0, 4.0])
  hits, widths = [], []
  for rep in range(60):
    rng = np.random.default_rng(rep)
    n = 30
    bias = rng.normal(0.0, 0.5, n)  # Raters differ; each one's votes are correlated.
    rating = mu + bias[:, None] + rng.normal(0.0, 0.8, (n, mu.size))
    who, item = np.indices(rating.shape)
    stars = A.Stars(who.ravel(), item.ravel(), rating.ravel(), n, mu.size)
    ci = B.bootstrap_ci(lambda s: A.mean_rating(s).value, stars, n_boot=200, seed=rep)
    hits.append((ci.low <= mu) & (mu <= ci.high))
    widths.append(ci.high - ci.low)
  assert np.mean(hits) >= 0.9
  assert np.mean(widths) < 1.0  # ~ 2 * 1.96 * sqrt(0.5^2 + 0.8^2) / sqrt(30) = 0.67.
  again = B.bootstrap_ci(lambda s: A.mean_rating(s).value, stars, n_boot=200, seed=59)
  np.testing.assert_array_equal(again.low, ci.low)
  np.testing.assert_array_equal(again.estimate, A.mean_rating(stars).value)
  other = B.bootstrap_ci(lambda s: A.mean_rating(s).value, stars, n_boot=200, seed=1)
  assert not np.array_equal(other.low, ci.low)


def test_resampling_keeps_whole_raters_and_duplicates_become_new_raters():
  out = B.resample_raters(HAND, np.array([3, 0, 3]))
  np.testing.assert_array_equal(out.rater, [0, 0, 1, 1, 1, 2, 2])
  np.testing.assert_array_equal(out.rating, [3, 3, 1, 3, 5, 3, 3])
  assert out.n_raters == 3


def test_spam_guard_weights_and_weighted_fitness_ranks_better():
  n_items = 40
  for seed in range(10):
    rng = np.random.default_rng(seed)
    centroid = 2000.0 * 2.0 ** rng.uniform(-2.5, 2.5, n_items)
    truth = raters.utility(centroid, 2000.0, 1.0)
    panel = raters.make_panel(
      seed, honest=4, random=1, constant=1, adversarial=1, noise=0.7
    )
    clips = [f"c{i}" for i in range(n_items)]
    grid = np.stack([r.rate(clips, centroid) for r in panel])
    who, item = np.indices(grid.shape)
    stars = A.Stars(who.ravel(), item.ravel(), grid.ravel(), len(panel), n_items)
    w = A.rater_weights(stars)
    kinds = np.array([r.kind for r in panel])
    assert np.all(w[kinds == "honest"] >= 0.5), (seed, w)
    assert np.all(w[kinds != "honest"] <= 0.2), (seed, w)
    assert w[kinds == "constant"][0] == 0.0 and w[kinds == "adversarial"][0] == 0.0

    def rank(fitness, truth=truth):
      return scipy.stats.spearmanr(fitness.value, truth)[0]

    plain = rank(A.mean_rating(stars))
    assert rank(A.mean_rating(stars, w)) > plain + 0.02, seed
    assert rank(A.zscore_mean(stars, w)) > rank(A.zscore_mean(stars)), seed


def test_rater_weights_edge_cases():
  w = A.rater_weights(HAND, unknown=0.7)
  assert w[3] == 0.0  # Constant.
  assert w[2] == 0.7  # One rating: cannot be judged.
