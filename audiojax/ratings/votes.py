"""One generation's votes as arrays: star ratings, pairwise votes, per-item fitness.

The rows of :class:`audiojax.ratings.store.RatingStore` (the human-guided GA of Singh
et al., 2025, "Improving AI-generated music with user-guided training") become
parallel index arrays, :class:`Stars` and :class:`Pairs`, checked once on
construction; every aggregate in :mod:`audiojax.ratings.aggregate`,
:mod:`audiojax.ratings.bradley_terry` and :mod:`audiojax.ratings.bootstrap` maps them to
a :class:`Fitness` per individual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np


class Fitness(NamedTuple):
  """Per-individual fitness (NaN where ``count`` is 0) and the votes it rests on."""

  value: np.ndarray
  count: np.ndarray


def check_indices(values: Any, n: int, what: str) -> np.ndarray:
  """``values`` as int64 indices in ``0..n-1``; a ValueError names the first bad one."""
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
    set_(self, "rater", check_indices(self.rater, self.n_raters, "rater index"))
    set_(self, "item", check_indices(self.item, self.n_items, "item index"))
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
    set_(self, "rater", check_indices(self.rater, self.n_raters, "rater index"))
    set_(self, "winner", check_indices(self.winner, self.n_items, "winner"))
    set_(self, "loser", check_indices(self.loser, self.n_items, "loser"))
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


Votes = TypeVar("Votes", Stars, Pairs)
