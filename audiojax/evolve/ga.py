"""Genetic algorithms over genomes, maximizing human ratings, on top of evosax.

evosax (Lange, 2023, "evosax: JAX-based evolution strategies") minimizes; ratings are
"higher is better". :class:`RatingGA` flips the sign in exactly one place, so callers
only ever see ratings. Population-based evosax algorithms start from an *evaluated*
population (``init(key, population, fitness, params)``): generation 0 is rendered and
rated before the GA exists. A missing rating (NaN) is a failed evaluation to evosax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from evosax.algorithms import SAMR_GA, DifferentialEvolution, SimpleGA

from audiojax.registry import Registry

STRATEGIES: Registry = Registry("GA strategy")


@STRATEGIES.register("simple_ga")
def _simple_ga(population_size: int, solution: jax.Array, std: float):
  # Truncation selection, uniform crossover, Gaussian mutation (Such et al., 2017).
  return SimpleGA(
    population_size=population_size,
    solution=solution,
    std_schedule=optax.constant_schedule(std),
  )


@STRATEGIES.register("samr_ga")
def _samr_ga(population_size: int, solution: jax.Array, std: float):
  # Self-adaptive mutation rate (Clune et al., 2008); ``std`` is its starting sigma.
  del std
  return SAMR_GA(population_size=population_size, solution=solution)


@STRATEGIES.register("differential_evolution")
def _de(population_size: int, solution: jax.Array, std: float):
  del std  # DE steps are differences of members, not a fixed mutation scale.
  return DifferentialEvolution(population_size=population_size, solution=solution)


class RatingGA:
  """An evosax GA that maximizes ratings of ``[P, D]`` genome populations.

  Args:
    strategy: a name in ``STRATEGIES``.
    population_size: individuals per generation.
    genome_size: ``D``.
    std: mutation scale (where the strategy has one).
    params: overrides of the strategy's default params (e.g. ``crossover_rate``).
  """

  def __init__(
    self,
    strategy: str,
    population_size: int,
    genome_size: int,
    *,
    std: float = 0.1,
    params: dict[str, Any] | None = None,
  ):
    make: Callable = STRATEGIES.get(strategy)
    self.algorithm = make(population_size, jnp.zeros((genome_size,), jnp.float32), std)
    self.params = self.algorithm.default_params.replace(**(params or {}))
    self.population_size = population_size

  @staticmethod
  def _fitness(ratings: jax.Array) -> jax.Array:
    """The one sign flip: evosax minimizes fitness, we maximize ratings."""
    return -jnp.asarray(ratings, jnp.float32)

  def init(self, key: jax.Array, population: jax.Array, ratings: jax.Array) -> Any:
    return self.algorithm.init(key, population, self._fitness(ratings), self.params)

  def ask(self, key: jax.Array, state: Any) -> tuple[jax.Array, Any]:
    return self.algorithm.ask(key, state, self.params)

  def tell(
    self, key: jax.Array, population: jax.Array, ratings: jax.Array, state: Any
  ) -> tuple[Any, dict[str, jax.Array]]:
    return self.algorithm.tell(
      key, population, self._fitness(ratings), state, self.params
    )

  def best(self, state: Any) -> tuple[jax.Array, jax.Array]:
    """The best genome seen so far and its rating."""
    return state.best_solution, -state.best_fitness
