"""Universal adversarial perturbations: one perturbation for every input of a set.

Moosavi-Dezfooli et al., 2017 ("Universal adversarial perturbations") showed that
one small perturbation fools a classifier on most natural inputs; in audio it is the
threat of a fixed sound played under everything (Neekhara et al., 2019, "Universal
adversarial perturbations for speech recognition systems"). We find it by stochastic
projected gradient ascent on the mean loss over the set (the formulation of Shafahi
et al., 2020, "Universal adversarial training"): ``v <- P(v + step * steepest(sum_x
grad_v loss(clip(x + v))))`` over batches and epochs. Compare it with random noise of
the same norm (:func:`random_like`): a universal perturbation that is no better than
noise has found nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp

from audiojax.attacks import budget
from audiojax.attacks.gradient import LogitsFn
from audiojax.attacks.losses import LOSSES


def universal(
  logits_fn: LogitsFn,
  batches: Iterable[tuple[jax.Array, jax.Array]],
  shape: tuple[int, ...],
  *,
  eps: float,
  step_size: float,
  epochs: int = 5,
  norm: str = "linf",
  loss: str = "ce",
) -> jax.Array:
  """One perturbation ``[*shape]`` (an input's shape) in the ``norm`` ball of ``eps``.

  Args:
    logits_fn: the model.
    batches: ``(x [B, *shape], y [B])`` pairs, visited ``epochs`` times (a list).
    shape: the shape of one input.
    eps: the budget of the perturbation.
    step_size: per batch.
    epochs: passes over ``batches``.
    norm: "linf" or "l2".
    loss: a name in ``attacks.losses.LOSSES``.

  Returns:
    The perturbation; add it to any input and clip to [-1, 1].
  """
  batches = list(batches)
  loss_fn = LOSSES.get(loss)

  @jax.jit
  def step(v, x, y):
    def total(v):
      return jnp.sum(loss_fn(logits_fn(jnp.clip(x + v[None], -1.0, 1.0)), y))

    g = jax.grad(total)(v)
    v = v + step_size * budget.steepest(g[None], norm)[0]
    return budget.project(v[None], eps, norm)[0]

  v = jnp.zeros(shape, jnp.float32)
  for _ in range(epochs):
    for x, y in batches:
      v = step(v, x, y)
  return v


def random_like(key: jax.Array, v: jax.Array, norm: str) -> jax.Array:
  """Noise with the same ``norm`` as ``v``: random signs at ``max|v|`` for L-infinity,
  a Gaussian direction scaled to ``||v||_2`` for L2."""
  if norm == "linf":
    return jnp.max(jnp.abs(v)) * jnp.sign(jax.random.normal(key, v.shape))
  direction = budget.steepest(jax.random.normal(key, (1, *v.shape)), "l2")[0]
  return budget.l2_norm(v[None])[0] * direction


def fooling_rate(logits_fn: LogitsFn, x: jax.Array, v: jax.Array) -> jax.Array:
  """Share of inputs whose prediction changes when ``v`` is added (and clipped)."""
  clean = jnp.argmax(logits_fn(x), -1)
  return jnp.mean(jnp.argmax(logits_fn(jnp.clip(x + v[None], -1, 1)), -1) != clean)
