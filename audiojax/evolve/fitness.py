"""A generation's fitness: which individuals people rate, and votes to one number each.

Every individual of generation 0 is rated (the surrogate needs data); later, a seeded
``surrogate.rated_fraction`` of the population goes to raters. The votes become one
fitness per individual (:func:`audiojax.ratings.aggregate.generation_fitness`:
per-rater z-scores or Bradley-Terry, rater weights against spam); the unrated rest get
the surrogate's prediction (:mod:`audiojax.evolve.surrogate`) or, with
``surrogate.predict=False`` (the control), NaN: failed evaluations the GA ranks last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_collections
import numpy as np

from audiojax.evolve import surrogate
from audiojax.ratings import aggregate
from audiojax.ratings.store import RatingStore


def rated_individuals(
  generation: int, population_size: int, rated_fraction: float, seed: int
) -> list[int]:
  """The individuals whose clips go to raters in ``generation``."""
  if generation == 0 or rated_fraction >= 1:
    return list(range(population_size))
  n = max(2, int(round(rated_fraction * population_size)))
  rng = np.random.default_rng([seed, generation, 5])
  return sorted(int(i) for i in rng.choice(population_size, n, replace=False))


def generation_fitness(
  store: RatingStore,
  generation: int,
  config: ml_collections.ConfigDict,
  population_size: int,
  load_images: Callable[[int], tuple[np.ndarray, list[str]]],
) -> tuple[np.ndarray, dict[str, Any]]:
  """Fitness of every individual of ``generation`` (index ``P`` is the base).

  Args:
    store: the session's votes.
    generation: the generation to score.
    config: the session config (``ratings``, ``surrogate``, ``seed``).
    population_size: ``P``.
    load_images: ``generation -> (mel images, clip ids)`` of its population.

  Returns:
    ``[P + 1]`` fitness and what it rests on (``votes``, ``surrogate_r2``).
  """
  r = config.ratings
  value, info = aggregate.generation_fitness(
    store.ratings(generation),
    store.comparisons(generation) if r.mode == "pairwise" else (),
    population_size + 1,
    mode=r.mode,
    method=r.aggregate,
    weight_raters=r.weight_raters,
  )
  rated = rated_individuals(
    generation, population_size, config.surrogate.rated_fraction, config.seed
  )
  unrated = sorted(set(range(population_size)) - set(rated))
  if unrated and config.surrogate.predict:
    history = [(store.ratings(h), *load_images(h)) for h in range(generation + 1)]
    value, info["surrogate_r2"] = surrogate.fill_unrated(
      history,
      value,
      unrated,
      population_size=population_size,
      alpha=config.surrogate.alpha,
    )
  elif unrated:  # The control: unrated individuals are failed evaluations.
    value = np.array(value, np.float64)
    value[unrated] = np.nan
  return value, info
