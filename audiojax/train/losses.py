"""Training losses with optional per-example weights, shared by every system.

A batch may carry a ``"weight"`` field ``[batch]``: the loss is then the weighted mean
``sum(w l) / sum(|w|)``. Weights are how one loop trains on mixed batches: reward-
weighted regression of the generator on its best-rated clips (Peters & Schaal, 2007),
retain/forget batches of unlearning (a weight of 0 drops an example, a negative one
ascends its loss), relabelled or re-weighted examples. Without the field the loss is
the plain mean, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from audiojax.train.state import LossFn


def weighted_mean(losses: jax.Array, weight: jax.Array | None = None) -> jax.Array:
  """``mean(losses)``, or ``sum(w losses) / sum(|w|)`` when ``weight`` is given.

  Dividing by ``sum(|w|)`` keeps a batch of negative (ascending) weights on the same
  scale as a positive one; for weights >= 0 it is ``sum(w)``.

  Args:
    losses: per-example losses ``[batch]``.
    weight: per-example weights ``[batch]`` or None.
  """
  if weight is None:
    return losses.mean()
  w = weight.astype(losses.dtype)
  return jnp.sum(w * losses) / jnp.maximum(jnp.sum(jnp.abs(w)), 1e-12)


def classification_loss(apply_fn: Callable[..., jax.Array]) -> LossFn:
  """Softmax cross-entropy of ``apply_fn(params, audio)`` against ``label``.

  Args:
    apply_fn: ``(params, audio, train=True, rngs=...) -> logits`` (a classifier's
      ``apply``; dropout draws from the step key).

  Returns:
    ``loss_fn(params, batch, key) -> (loss, {"accuracy"})``; ``batch`` holds
    ``audio`` ``[B, samples]``, ``label`` ``[B]`` and optionally ``weight`` ``[B]``.
  """

  def loss_fn(params: Any, batch: dict[str, jax.Array], key: jax.Array):
    logits = apply_fn(params, batch["audio"], train=True, rngs={"dropout": key})
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return weighted_mean(losses, batch.get("weight")), {"accuracy": accuracy}

  return loss_fn
