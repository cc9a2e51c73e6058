"""Bootstrap confidence intervals of vote aggregates that resample raters.

How sure a fitness of the human-guided GA (Singh et al., 2025, "Improving AI-generated
music with user-guided training") is: percentile intervals whose replicates resample
*raters*, keeping all their votes, since one rater's votes are correlated (a cluster
bootstrap; Field & Welsh, 2007). Plain numpy and deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from audiojax.ratings.votes import Votes


class CI(NamedTuple):
  """A statistic on all the data and its bootstrap percentile interval."""

  estimate: np.ndarray
  low: np.ndarray
  high: np.ndarray


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
