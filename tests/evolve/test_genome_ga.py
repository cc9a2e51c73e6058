"""Genomes round-trip to adapters; every GA strategy raises the ratings it is told."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.evolve.ga import STRATEGIES, RatingGA
from audiojax.evolve.genome import Genome

TEMPLATE = {
  "b0": {"scale": jnp.zeros(3), "shift": jnp.zeros(3)},
  "b1": {"scale": jnp.zeros(2), "shift": jnp.zeros(2)},
}


def test_genome_round_trips_and_keeps_the_base_model_in_the_population():
  g = Genome(TEMPLATE)
  assert g.size == 10
  v = jnp.arange(10.0)
  adapter = g.to_adapter(v)
  np.testing.assert_array_equal(jax.flatten_util.ravel_pytree(adapter)[0], v)
  pop = g.random_population(jax.random.key(0), 5, std=0.3)
  assert pop.shape == (5, 10) and pop.dtype == jnp.float32
  np.testing.assert_array_equal(pop[0], 0.0)
  stacked = g.to_adapters(pop)
  np.testing.assert_array_equal(
    stacked["b1"]["shift"][3], g.to_adapter(pop[3])["b1"]["shift"]
  )
  with pytest.raises(ValueError, match=r"\(10,\)"):
    g.to_adapter(jnp.zeros(9))


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_each_strategy_maximizes_ratings(strategy):
  target = jnp.linspace(-1.0, 1.0, 6)
  rating = lambda pop: 5.0 - jnp.sum((pop - target) ** 2, -1)  # Higher is better.
  ga = RatingGA(strategy, 16, 6, std=0.2)
  key = jax.random.key(0)
  pop = 0.5 * jax.random.normal(key, (16, 6))
  state = ga.init(key, pop, rating(pop))
  start = float(rating(pop).max())
  for g in range(40):
    k1, k2 = jax.random.split(jax.random.fold_in(key, g))
    pop, state = ga.ask(k1, state)
    state, _ = ga.tell(k2, pop, rating(pop), state)
  best, best_rating = ga.best(state)
  assert float(best_rating) > start + 0.5
  np.testing.assert_allclose(
    float(rating(best[None])[0]), float(best_rating), rtol=1e-5
  )
