"""Streaming metrics as sums and counts: ``empty / from_batch / merge / compute``.

Means are computed once at the end from summed numerators and denominators, never as a
mean of per-batch means, so a padded last batch or an uneven split across devices
changes nothing (the CLU ``metrics.Collection`` idea, in a few lines).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct


@struct.dataclass
class Average:
  """Weighted sums of named scalars; ``compute`` divides by the total weight."""

  totals: dict[str, jax.Array]
  weight: jax.Array

  @classmethod
  def empty(cls, names: tuple[str, ...] = ()) -> Average:
    return cls(
      totals={n: jnp.zeros((), jnp.float32) for n in names},
      weight=jnp.zeros((), jnp.float32),
    )

  @classmethod
  def from_values(cls, values: Mapping[str, jax.Array], weight=1.0) -> Average:
    w = jnp.asarray(weight, jnp.float32)
    return cls(
      totals={k: jnp.asarray(v, jnp.float32) * w for k, v in values.items()}, weight=w
    )

  def merge(self, other: Average) -> Average:
    if not self.totals:
      return other
    return Average(
      totals=jax.tree.map(jnp.add, self.totals, other.totals),
      weight=self.weight + other.weight,
    )

  def compute(self) -> dict[str, float]:
    w = float(self.weight)
    if w == 0:
      return {}
    return {k: float(v) / w for k, v in self.totals.items()}


@struct.dataclass
class Classification:
  """Loss sum, correct count, example count and confusion counts of a classifier."""

  loss_sum: jax.Array
  correct: jax.Array
  count: jax.Array
  confusion: jax.Array  # [true, predicted] counts.

  @classmethod
  def empty(cls, num_classes: int) -> Classification:
    return cls(
      loss_sum=jnp.zeros((), jnp.float32),
      correct=jnp.zeros((), jnp.int32),
      count=jnp.zeros((), jnp.int32),
      confusion=jnp.zeros((num_classes, num_classes), jnp.int32),
    )

  @classmethod
  def from_batch(
    cls, logits: jax.Array, labels: jax.Array, mask: jax.Array
  ) -> Classification:
    """Metrics of one batch; rows where ``mask`` is False count for nothing."""
    num_classes = logits.shape[-1]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    pred = jnp.argmax(logits, -1)
    m = mask.astype(jnp.int32)
    confusion = jnp.zeros((num_classes, num_classes), jnp.int32).at[labels, pred].add(m)
    return cls(
      loss_sum=jnp.sum(jnp.where(mask, losses, 0.0)),
      correct=jnp.sum((pred == labels) * m),
      count=jnp.sum(m),
      confusion=confusion,
    )

  def merge(self, other: Classification) -> Classification:
    return jax.tree.map(jnp.add, self, other)

  def compute(self) -> dict[str, float | list[list[int]]]:
    n = int(self.count)
    if n == 0:
      raise ValueError("no examples were evaluated")
    confusion = np.asarray(self.confusion)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    return {
      "loss": float(self.loss_sum) / n,
      "accuracy": int(self.correct) / n,
      "balanced_accuracy": float(per_class[confusion.sum(1) > 0].mean()),
      "count": n,
      "confusion": confusion.tolist(),
    }
