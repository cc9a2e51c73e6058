"""Ratings to GA fitness: robust means, Bradley-Terry strengths, rater weights, CIs.

One generation's votes from :class:`audiojax.evolve.ratings.RatingStore` become one
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
evaluation. Everything here is plain numpy/scipy and deterministic.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np
import scipy.stats
from absl import logging


class Fitness(NamedTuple):
  """Per-individual fitness (NaN where ``count`` is 0) and the votes it rests on."""

  value: np.ndarray
  count: np.ndarray


def _indices(values: Any, n: int, what: str) -> np.ndarray:
  a = np.asarray(values)
  if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
    raise ValueError(f"{what} must be a 1-D integer array, got {a.dtype} {a.shape}")
  a = a.astype(np.int64)
  bad = a[(a < 0) | (a >= n)]
  if bad.size:
    raise ValueError(f"{what} {bad[0]} is outside 0..{n - 1}")
  return a


def _rater_index(rows: Sequence[Any]) -> tuple[tuple[str, ...], np.ndarray]:
  ids = tuple(sorted({r.rater_id for r in rows}))
  index = {r: i for i, r in enumerate(ids)}
  return ids, np.array([index[r.rater_id] for r in rows], np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class Stars:
  """Star ratings of one generation as parallel arrays, one entry per vote.

  Attributes:
    rater: rater index of each vote, in ``0..n_raters-1``.
    item: individual of each vote, in ``0..n_items-1``.
    rating: stars of each vote (float).
    n_raters, n_items: sizes of the two index spaces.
    rater_ids: optional names of the raters (``rater_ids[rater[k]]``).
  """

  rater: np.ndarray
  item: np.ndarray
  rating: np.ndarray
  n_raters: int
  n_items: int
  rater_ids: tuple[str, ...] = ()

  def __post_init__(self):
    set_ = object.__setattr__  # Frozen: normalise the arrays once, here.
    set_(self, "rater", _indices(self.rater, self.n_raters, "rater index"))
    set_(self, "item", _indices(self.item, self.n_items, "item index"))
    rating = np.asarray(self.rating, np.float64)
    if rating.shape != self.rater.shape or self.item.shape != self.rater.shape:
      raise ValueError(
        f"rater, item and rating differ in shape: {self.rater.shape}, "
        f"{self.item.shape}, {rating.shape}"
      )
    if not np.all(np.isfinite(rating)):
      raise ValueError(f"ratings must be finite, got {rating[~np.isfinite(rating)]}")
    set_(self, "rating", rating)

  @classmethod
  def from_rows(cls, rows: Sequence[Any], n_items: int | None = None) -> Stars:
    """From ``RatingStore.ratings(generation)`` (rows with ``rater_id``,
    ``individual`` and ``rating``); raters are indexed in sorted id order."""
    ids, rater = _rater_index(rows)
    item = np.array([r.individual for r in rows], np.int64)
    if n_items is None:
      n_items = int(item.max()) + 1 if item.size else 0
    stars = np.array([r.rating for r in rows], np.float64)
    return cls(rater, item, stars, len(ids), n_items, ids)


@dataclasses.dataclass(frozen=True, eq=False)
class Pairs:
  """Pairwise votes of one generation: ``rater[k]`` preferred ``winner[k]`` to
  ``loser[k]`` (individual indices); fields as in :class:`Stars`."""

  rater: np.ndarray
  winner: np.ndarray
  loser: np.ndarray
  n_raters: int
  n_items: int
  rater_ids: tuple[str, ...] = ()

  def __post_init__(self):
    set_ = object.__setattr__
    set_(self, "rater", _indices(self.rater, self.n_raters, "rater index"))
    set_(self, "winner", _indices(self.winner, self.n_items, "winner"))
    set_(self, "loser", _indices(self.loser, self.n_items, "loser"))
    if not self.rater.shape == self.winner.shape == self.loser.shape:
      raise ValueError("rater, winner and loser differ in shape")
    same = np.flatnonzero(self.winner == self.loser)
    if same.size:
      raise ValueError(f"vote {same[0]} has item {self.winner[same[0]]} beat itself")

  @classmethod
  def from_rows(cls, rows: Sequence[Any], n_items: int | None = None) -> Pairs:
    """From ``RatingStore.comparisons(generation)``. A pair of clips of the same
    individual (two seeds) says nothing about individuals and is dropped."""
    rows = [r for r in rows if r.individual_a != r.individual_b]
    ids, rater = _rater_index(rows)
    a_won = np.array([r.winner == r.clip_a for r in rows], bool)
    a = np.array([r.individual_a for r in rows], np.int64)
    b = np.array([r.individual_b for r in rows], np.int64)
    if n_items is None:
      n_items = int(max(a.max(), b.max())) + 1 if a.size else 0
    return cls(
      rater, np.where(a_won, a, b), np.where(a_won, b, a), len(ids), n_items, ids
    )


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


def bradley_terry(
  n_items: int,
  winners: Any,
  losers: Any,
  *,
  weights: Any = None,
  prior: float = 0.5,
  max_iter: int = 10_000,
  tol: float = 1e-10,
) -> np.ndarray:
  """Bradley-Terry log-strengths by Hunter's (2004) MM algorithm.

  ``P(i beats j) = p_i / (p_i + p_j)``. The prior adds ``prior`` virtual games spread
  evenly over the other items, won and lost alike, to every item (a symmetric
  pseudo-count). It keeps an item that never lost finite, connects the comparison
  graph (so the maximiser is unique) and leaves the model invariant to scale, so the
  iteration ``p_i <- W_i / sum_j N_ij / (p_i + p_j)`` (wins ``W`` and games ``N``
  including the virtual ones) is renormalised each step.

  Args:
    n_items: number of items.
    winners: ``[n]`` index of the preferred item of each vote.
    losers: ``[n]`` index of the other item.
    weights: optional ``[n]`` weights >= 0 of the votes (e.g. their raters').
    prior: virtual wins (and losses) per item, > 0.
    max_iter: iteration cap; not converging logs a warning.
    tol: stop when log-strengths change by less than this.

  Returns:
    ``[n_items]`` log-strengths with mean 0.
  """
  if not prior > 0:
    raise ValueError(f"prior must be > 0, got {prior}")
  if n_items < 2:
    return np.zeros(max(n_items, 0))
  win = _indices(winners, n_items, "winner")
  lose = _indices(losers, n_items, "loser")
  if win.shape != lose.shape:
    raise ValueError(f"winners {win.shape} and losers {lose.shape} differ in shape")
  if np.any(win == lose):
    raise ValueError(f"item {win[win == lose][0]} cannot beat itself")
  w = np.ones(win.shape) if weights is None else np.asarray(weights, np.float64)
  if w.shape != win.shape or not np.all((w >= 0) & np.isfinite(w)):
    raise ValueError(f"weights must be {win.shape} finite values >= 0")
  wins = np.bincount(win, w, minlength=n_items) + prior
  games = np.full((n_items, n_items), 2 * prior / (n_items - 1))
  np.add.at(games, (win, lose), w)
  np.add.at(games, (lose, win), w)
  np.fill_diagonal(games, 0.0)
  theta = np.zeros(n_items)
  for _ in range(max_iter):
    p = np.exp(theta)
    new = np.log(wins / (games / (p[:, None] + p[None, :])).sum(1))
    new -= new.mean()
    delta = np.max(np.abs(new - theta))
    theta = new
    if delta < tol:
      break
  else:
    logging.warning("bradley_terry: no convergence in %d steps (%g)", max_iter, delta)
  return theta


def pairwise_fitness(
  pairs: Pairs, weights: Any = None, *, prior: float = 0.5
) -> Fitness:
  """Bradley-Terry log-strength per individual (NaN if never compared).

  Args:
    pairs: the votes.
    weights: optional ``[n_raters]`` rater weights.
    prior: see :func:`bradley_terry`.

  Returns:
    Fitness; ``count`` is the number of votes involving each individual.
  """
  w = None
  if weights is not None:
    w = np.asarray(weights, np.float64)
    if w.shape != (pairs.n_raters,):
      raise ValueError(f"weights must have shape ({pairs.n_raters},), got {w.shape}")
    w = w[pairs.rater]
  theta = bradley_terry(
    pairs.n_items, pairs.winner, pairs.loser, weights=w, prior=prior
  )
  count = np.bincount(
    np.concatenate([pairs.winner, pairs.loser]), minlength=pairs.n_items
  )
  return Fitness(np.where(count > 0, theta, np.nan), count)


class CI(NamedTuple):
  """A statistic on all the data and its bootstrap percentile interval."""

  estimate: np.ndarray
  low: np.ndarray
  high: np.ndarray


Votes = TypeVar("Votes", Stars, Pairs)


def resample_raters(data: Votes, chosen: np.ndarray) -> Votes:
  """The votes of raters ``chosen`` (with repeats), each copy a distinct new rater."""
  order = np.argsort(data.rater, kind="stable")
  starts = np.searchsorted(data.rater[order], np.arange(data.n_raters + 1))
  rows = [order[starts[r] : starts[r + 1]] for r in chosen]
  idx = np.concatenate(rows) if rows else np.zeros(0, np.int64)
  new_rater = np.repeat(np.arange(len(chosen)), [len(x) for x in rows])
  fields = {
    f.name: getattr(data, f.name)[idx]
    for f in dataclasses.fields(data)
    if isinstance(getattr(data, f.name), np.ndarray)
  }
  ids = tuple(data.rater_ids[r] for r in chosen) if data.rater_ids else ()
  fields.update(rater=new_rater, n_raters=len(chosen), rater_ids=ids)
  return dataclasses.replace(data, **fields)


def bootstrap_ci(
  fn: Callable[[Votes], Any],
  data: Votes,
  *,
  n_boot: int = 1000,
  alpha: float = 0.05,
  seed: int = 0,
) -> CI:
  """Percentile bootstrap interval of ``fn(data)``, resampling raters.

  Each replicate draws as many raters as voted, with replacement, and keeps all their
  votes. To bootstrap a weighted aggregate, compute the weights inside ``fn`` (e.g.
  ``lambda s: mean_rating(s, rater_weights(s)).value``) so the spam guard is
  re-estimated on every replicate.

  Args:
    fn: maps :class:`Stars` or :class:`Pairs` to an array (e.g. per-individual fitness).
    data: the votes.
    n_boot: number of replicates.
    alpha: 1 - coverage of the two-sided interval.
    seed: the replicates are a deterministic function of it.

  Returns:
    CI of ``fn``'s shape; NaN replicates (an individual nobody drew) are ignored.
  """
  if not 0 < alpha < 1 or n_boot < 1:
    raise ValueError(f"need 0 < alpha < 1 and n_boot >= 1, got {alpha}, {n_boot}")
  estimate = np.asarray(fn(data), np.float64)
  voters = np.unique(data.rater)
  rng = np.random.default_rng(seed)
  reps = np.stack(
    [
      np.asarray(fn(resample_raters(data, rng.choice(voters, voters.size))), float)
      for _ in range(n_boot)
    ]
  )
  with warnings.catch_warnings():
    # An all-NaN column (an individual nobody rated) gives NaN, which is right.
    warnings.simplefilter("ignore", RuntimeWarning)
    low, high = np.nanpercentile(reps, [50 * alpha, 100 - 50 * alpha], axis=0)
  return CI(estimate, low, high)
