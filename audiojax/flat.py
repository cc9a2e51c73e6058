"""Parameter pytrees as flat vectors and back, one layout per template.

Several systems treat a pytree of arrays as one vector: a GA mutates an adapter as a
genome row (``audiojax.evolve.genome``), saliency masks and importance scores in
unlearning are per-parameter vectors, a universal perturbation or a population of
models is a matrix ``[N, D]``. :class:`FlatLayout` is that view, built on
``jax.flatten_util.ravel_pytree`` (float32 throughout), with the batched inverse
``jax.vmap`` gives.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


class FlatLayout:
  """Vector <-> pytree for one pytree layout.

  Args:
    template: a pytree of arrays; its structure and shapes define the layout, its
      values are ``origin``.
  """

  def __init__(self, template: Any):
    flat, self._unravel = ravel_pytree(template)
    self.origin = jnp.asarray(flat, jnp.float32)
    self.size = int(flat.size)

  def ravel(self, tree: Any) -> jax.Array:
    """A pytree of this layout -> ``[D]``."""
    flat, _ = ravel_pytree(tree)
    if flat.shape != (self.size,):
      raise ValueError(f"tree has {flat.size} values, the layout {self.size}")
    return flat.astype(jnp.float32)

  def unravel(self, vector: jax.Array) -> Any:
    """``[D]`` -> a pytree of this layout."""
    if vector.shape != (self.size,):
      raise ValueError(f"vector must have shape ({self.size},), got {vector.shape}")
    return self._unravel(vector)

  def unravel_batch(self, vectors: jax.Array) -> Any:
    """``[N, D]`` -> a pytree of this layout with a leading ``N`` axis."""
    if vectors.ndim != 2 or vectors.shape[1] != self.size:
      raise ValueError(f"vectors must have shape (N, {self.size}), got {vectors.shape}")
    return jax.vmap(self._unravel)(vectors)
