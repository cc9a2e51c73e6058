"""Expectation over transformation (EOT; Athalye et al., 2018, "Synthesizing robust
adversarial examples"): PGD on the loss averaged over a random transformation.

The transformation ``transform(x, key) -> x'`` is what stands between the attacker
and the model: a room, a microphone and a loudspeaker (``channel.rooms.over_the_air``),
a randomised input defense (additive noise), or a fixed one whose gradient is
straight-through (a codec re-encode, quantisation: BPDA, Athalye, Carlini & Wagner,
2018). Every step draws ``samples`` fresh transformations per example (keys folded
from ``key`` and the step), so the attack never sees the same channel twice and
cannot overfit a few; the loss gradient is averaged over them. With a deterministic
transform and ``samples=1`` this is PGD through the transform (an adaptive attack on
an input-transform defense).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from audiojax.attacks import budget
from audiojax.attacks.gradient import LogitsFn
from audiojax.attacks.losses import LOSSES

Transform = Callable[[jax.Array, jax.Array], jax.Array]


def expected_loss_gradient(
  logits_fn: LogitsFn,
  transform: Transform,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  samples: int,
  loss: str = "ce",
  targeted: bool = False,
) -> jax.Array:
  """The gradient w.r.t. ``x`` of the per-example loss averaged over ``samples``
  draws of ``transform``."""
  loss_fn = LOSSES.get(loss)
  sign = -1.0 if targeted else 1.0

  def total(v):
    def one(k):
      return jnp.sum(loss_fn(logits_fn(transform(v, k)), y))

    return sign * jnp.mean(jax.vmap(one)(jax.random.split(key, samples)))

  return jax.grad(total)(x)


def eot_pgd(
  logits_fn: LogitsFn,
  transform: Transform,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps,
  step_size,
  steps: int,
  samples: int = 8,
  norm: str = "linf",
  random_start: bool = True,
  targeted: bool = False,
  loss: str = "ce",
) -> jax.Array:
  """PGD on the expected loss over ``transform``.

  Args:
    logits_fn: waveform batch -> logits (the model after the channel).
    transform: ``(x [N, T], key) -> [N, T]``, one random draw per example.
    x, y: clean batch in [-1, 1] and labels (targets when ``targeted``).
    key: random start and every step's transformations.
    eps, step_size, steps, norm, random_start, targeted, loss: as for
      :func:`audiojax.attacks.pgd`.
    samples: transformations averaged per step.

  Returns:
    The last iterate, in the ball and in [-1, 1].
  """
  start_key, steps_key = jax.random.split(key)
  x_adv = x
  if random_start:
    x_adv = budget.constrain(
      x, x + budget.random_point(start_key, x, eps, norm), eps, norm
    )
  alpha = budget._per_example(step_size, x)

  def body(i, x_adv):
    grad = expected_loss_gradient(
      logits_fn,
      transform,
      x_adv,
      y,
      jax.random.fold_in(steps_key, i),
      samples=samples,
      loss=loss,
      targeted=targeted,
    )
    return budget.constrain(x, x_adv + alpha * budget.steepest(grad, norm), eps, norm)

  return jax.lax.fori_loop(0, steps, body, x_adv)
