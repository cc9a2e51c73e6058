"""The evolved part of the generator: its FiLM adapter, ravelled into one vector.

The U-Net's adapter (``audiojax.generate.unet.init_adapter``) offsets the FiLM scale
and shift of every residual block: a few hundred to a few thousand numbers that change
timbre, brightness and texture without touching the trained params. A genome is that
pytree as a flat float32 vector (:class:`audiojax.flat.FlatLayout`), so a population
is a ``[P, D]`` array the GA can mutate and ``jax.vmap`` can render in one call.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from audiojax.flat import FlatLayout


class Genome(FlatLayout):
  """Vector <-> adapter pytree for one adapter layout.

  Args:
    template: an adapter pytree (e.g. ``init_adapter(unet, shape)``); its structure and
      shapes define the layout, its values the origin (usually zeros).
  """

  def to_adapter(self, vector: jax.Array) -> Any:
    """One genome ``[D]`` -> adapter pytree."""
    return self.unravel(vector)

  def to_adapters(self, population: jax.Array) -> Any:
    """A population ``[P, D]`` -> adapter pytree with a leading ``P`` axis."""
    return self.unravel_batch(population)

  def random_population(self, key: jax.Array, size: int, std: float) -> jax.Array:
    """``size`` genomes around the origin; row 0 is the origin (the base model)."""
    noise = std * jax.random.normal(key, (size, self.size))
    return (self.origin + noise.at[0].set(0.0)).astype(jnp.float32)
