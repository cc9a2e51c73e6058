"""Bradley-Terry strengths from pairwise votes, by Hunter's (2004) MM algorithm.

Raters of the human-guided GA (Singh et al., 2025, "Improving AI-generated music with
user-guided training") may pick the better of two clips instead of giving stars;
:func:`bradley_terry` turns such votes into log-strengths by the MM algorithm of
Hunter, 2004, "MM algorithms for generalized Bradley-Terry models", and
:func:`pairwise_fitness` makes them a fitness per individual (NaN where an individual
was never compared). Plain numpy and deterministic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from absl import logging

from audiojax.ratings.votes import Fitness, Pairs, check_indices


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
  win = check_indices(winners, n_items, "winner")
  lose = check_indices(losers, n_items, "loser")
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
