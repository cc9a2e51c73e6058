"""Ratings to GA fitness: robust means, Bradley-Terry strengths, rater weights, CIs.

One generation's votes from :class:`audiojax.ratings.store.RatingStore` become one
fitness per individual, as in the human-guided GA of Singh et al., 2025, "Improving
AI-generated music with user-guided training":

- star ratings (:class:`Stars`): :func:`mean_rating`, :func:`zscore_mean` (each rater
  standardised by their own mean and spread, which removes harsh/lenient biases) and
  :func:`trimmed_mean` (``scipy.stats.trim_mean``);
- pairwise votes (:class:`Pairs`): :func:`bradley_terry` by the MM algorithm of Hunter,
  2004, "MM algorithms for generalized Bradley-Terry models";
- :func:`rater_weights`, the spam guard: a rater counts as much as their ratings agree
  with everybody else's;
- :func:`bootstrap_ci`: percentile intervals that resample *raters*, since one rater's
  votes are correlated (a cluster bootstrap; Field & Welsh, 2007).

Items an aggregate has no usable vote for get NaN, which evosax treats as a failed
evaluation. Everything here is plain numpy/scipy and deterministic. The star
aggregates and rater weights live in this module; the vote arrays in
:mod:`audiojax.ratings.votes`, Bradley-Terry in
:mod:`audiojax.ratings.bradley_terry` and the bootstrap in
:mod:`audiojax.ratings.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats
from absl import logging

from audiojax.ratings.bradley_terry import pairwise_fitness
from audiojax.ratings.votes import Fitness, Pairs, Stars
from audiojax.registry import Registry


def _vote_weights(stars: Stars, weights: Any) -> np.ndarray:
  if weights is None:
    return np.ones(stars.rating.shape)
  w = np.asarray(weights, np.float64)
  if w.shape != (stars.n_raters,) or not np.all((w >= 0) & np.isfinite(w)):
    raise ValueError(f"weights must be {stars.n_raters} finite values >= 0, got {w}")
  return w[stars.rater]


def _weighted_item_mean(item, values, w, n_items) -> Fitness:
  num = np.bincount(item, w * values, minlength=n_items)
  den = np.bincount(item, w, minlength=n_items)
  count = np.bincount(item, (w > 0).astype(np.float64), minlength=n_items)
  with np.errstate(invalid="ignore", divide="ignore"):
    value = np.where(den > 0, num / den, np.nan)
  return Fitness(value, count.astype(np.int64))


def mean_rating(stars: Stars, weights: Any = None) -> Fitness:
  """(Weighted) mean stars per individual.

  Args:
    stars: the votes.
    weights: optional ``[n_raters]`` weights >= 0 (e.g. :func:`rater_weights`).

  Returns:
    Fitness: ``value`` = sum(w * stars) / sum(w) per individual; ``count`` = votes with
    positive weight.
  """
  w = _vote_weights(stars, weights)
  return _weighted_item_mean(stars.item, stars.rating, w, stars.n_items)


def _rater_moments(stars: Stars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  n = np.bincount(stars.rater, minlength=stars.n_raters).astype(np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean = np.bincount(stars.rater, stars.rating, minlength=stars.n_raters) / n
    dev = stars.rating - mean[stars.rater]
    std = np.sqrt(np.bincount(stars.rater, dev**2, minlength=stars.n_raters) / n)
  return n, mean, std


def zscore_mean(stars: Stars, weights: Any = None, *, min_ratings: int = 2) -> Fitness:
  """Mean per individual of each rater's standardised ratings ``(x - m_r) / s_r``.

  A rater with fewer than ``min_ratings`` ratings, or with zero spread, has no scale
  to standardise by, so their votes are left out (``count`` excludes them). The mean
  and (population) standard deviation of each rater are over the votes given.

  Args:
    stars: the votes.
    weights: optional ``[n_raters]`` weights >= 0.
    min_ratings: the fewest ratings a rater needs to be standardised (>= 2).

  Returns:
    Fitness in units of rater standard deviations (0 = an average clip).
  """
  if min_ratings < 2:
    raise ValueError(f"min_ratings must be >= 2, got {min_ratings}")
  n, mean, std = _rater_moments(stars)
  usable = (n >= min_ratings) & (std > 1e-12)
  safe_std = np.where(usable, std, 1.0)
  z = (stars.rating - mean[stars.rater]) / safe_std[stars.rater]
  w = _vote_weights(stars, weights) * usable[stars.rater]
  return _weighted_item_mean(stars.item, np.where(w > 0, z, 0.0), w, stars.n_items)


def trimmed_mean(stars: Stars, proportion: float = 0.1) -> Fitness:
  """``scipy.stats.trim_mean`` of each individual's stars (unweighted).

  Args:
    stars: the votes.
    proportion: share cut from each end of each individual's sorted ratings.

  Returns:
    Fitness; ``count`` is the number of votes before trimming.
  """
  if not 0 <= proportion < 0.5:
    raise ValueError(f"proportion must be in [0, 0.5), got {proportion}")
  count = np.bincount(stars.item, minlength=stars.n_items)
  value = np.full(stars.n_items, np.nan)
  for i in np.flatnonzero(count):
    value[i] = scipy.stats.trim_mean(stars.rating[stars.item == i], proportion)
  return Fitness(value, count)


def rater_weights(
  stars: Stars,
  *,
  threshold: float = 0.3,
  min_items: int = 3,
  unknown: float = 1.0,
  n_iter: int = 5,
) -> np.ndarray:
  """How much each rater's ratings agree with everybody else's, in [0, 1].

  Rule: a rater who gave one value to >= 2 individuals (zero variance) gets 0. For the
  others, ``r`` is the Pearson correlation between the rater's mean stars per
  individual and the leave-one-out consensus, the weighted mean of the other raters'
  standardised ratings of the same individuals; the weight is
  ``clip((r - threshold) / (1 - threshold), 0, 1)``, so random raters (``r`` ~ 0) and
  adversarial ones (``r`` < 0) get 0 and weights rise linearly to 1 at ``r = 1``. The
  consensus is recomputed ``n_iter`` times with the latest weights, so bad raters stop
  polluting it. A rater sharing fewer than ``min_items`` individuals with the others
  cannot be judged and gets ``unknown``.

  Args:
    stars: the votes.
    threshold: correlation at or below which a rater gets weight 0.
    min_items: individuals a rater must share with the consensus to be judged.
    unknown: weight of raters who cannot be judged.
    n_iter: reweighting rounds (>= 1).

  Returns:
    ``[n_raters]`` weights.
  """
  if not -1 <= threshold < 1:
    raise ValueError(f"threshold must be in [-1, 1), got {threshold}")
  shape = (stars.n_raters, stars.n_items)
  total, seen = np.zeros(shape), np.zeros(shape)
  np.add.at(total, (stars.rater, stars.item), stars.rating)
  np.add.at(seen, (stars.rater, stars.item), 1.0)
  rated = seen > 0
  with np.errstate(invalid="ignore", divide="ignore"):
    m = np.where(rated, total / seen, np.nan)  # Mean stars per (rater, individual).
    z = (m - np.nanmean(m, 1, keepdims=True)) / np.nanstd(m, 1, keepdims=True)
  n, _, std = _rater_moments(stars)
  constant = (n >= 2) & ~(std > 1e-12)
  # A rater with one individual (or constant) has no scale: no say in the consensus.
  scaled = rated & np.isfinite(z) & ~constant[:, None]
  z = np.where(scaled, z, 0.0)
  weights = np.where(constant, 0.0, 1.0)
  for _ in range(max(1, n_iter)):
    w = weights[:, None] * scaled
    # Leave-one-out: remove each rater's own contribution from the column sums.
    num = (w * z).sum(0)[None] - w * z
    den = w.sum(0)[None] - w
    with np.errstate(invalid="ignore", divide="ignore"):
      consensus = np.where(rated & (den > 1e-12), num / den, np.nan)
    new = np.full(stars.n_raters, float(unknown))
    for r in range(stars.n_raters):
      ok = ~np.isnan(consensus[r])
      if constant[r]:
        new[r] = 0.0
      elif ok.sum() >= min_items and np.ptp(consensus[r, ok]) > 0:
        corr = np.corrcoef(m[r, ok], consensus[r, ok])[0, 1]
        corr = 0.0 if np.isnan(corr) else corr  # The rater is constant on these.
        new[r] = np.clip((corr - threshold) / (1 - threshold), 0.0, 1.0)
    weights = new
  return weights


# Star aggregates by name: ``fn(stars, rater weights or None) -> Fitness``.
STAR_AGGREGATES: Registry = Registry(
  "aggregate",
  {
    "zscore": zscore_mean,
    "mean": mean_rating,
    "trimmed": lambda stars, weights: trimmed_mean(stars),  # Unweighted.
  },
)


def _star_fitness(ratings, comparisons, n_items, method, weight_raters):
  aggregate = STAR_AGGREGATES.get(method)
  stars = Stars.from_rows(ratings, n_items)
  if stars.n_raters == 0:
    return np.full(n_items, np.nan), {"votes": 0}
  weights = rater_weights(stars) if weight_raters else None
  if weights is not None and not np.any(weights > 0):
    # No rater agrees with the others: there is no consensus to tell spam from,
    # so every rater counts rather than nobody.
    logging.warning("raters do not agree; fitness unweighted")
    weights = None
  return aggregate(stars, weights).value, {"votes": int(stars.rater.size)}


def _pairwise_fitness(ratings, comparisons, n_items, method, weight_raters):
  pairs = Pairs.from_rows(comparisons, n_items)
  if pairs.n_raters == 0:
    return np.full(n_items, np.nan), {"votes": 0}
  return pairwise_fitness(pairs).value, {"votes": int(pairs.rater.size)}


RATING_MODES: Registry = Registry(
  "ratings mode", {"stars": _star_fitness, "pairwise": _pairwise_fitness}
)


def generation_fitness(
  ratings: Sequence[Any],
  comparisons: Sequence[Any],
  n_items: int,
  *,
  mode: str = "stars",
  method: str = "zscore",
  weight_raters: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
  """One fitness per item from a generation's votes, as a session configures it.

  Args:
    ratings: star rows (``RatingStore.ratings(g)``), used when ``mode="stars"``.
    comparisons: pairwise rows (``RatingStore.comparisons(g)``), ``mode="pairwise"``.
    n_items: individuals (+ the base generator as the last item).
    mode: a name in :data:`RATING_MODES`: ``"stars"`` or ``"pairwise"``
      (Bradley-Terry).
    method: star aggregate, a name in :data:`STAR_AGGREGATES`.
    weight_raters: weigh raters by :func:`rater_weights` (zscore and mean).

  Returns:
    ``[n_items]`` fitness (NaN without votes) and ``{"votes": count}``.
  """
  fitness = RATING_MODES.get(mode)
  return fitness(ratings, comparisons, n_items, method, weight_raters)
