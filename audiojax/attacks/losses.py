"""Per-example losses attacks ascend: cross-entropy, DLR, the Carlini-Wagner margin, and
the frame BCE of a transcriber.

Each maps ``(logits [N, C], labels [N]) -> [N]`` (``frame_bce``: ``(logits [N, ...,
P], rolls [N, ..., P]) -> [N]``); summing over the batch gives every example its own
gradient, so one ``jax.grad`` attacks a whole batch.

* ``ce``: softmax cross-entropy (Goodfellow et al., 2015; Madry et al., 2018).
* ``dlr``: the difference of logits ratio of Croce & Hein, 2020 ("Reliable evaluation
  of adversarial robustness with an ensemble of diverse parameter-free attacks"),
  ``-(z_y - max_{i!=y} z_i) / (z_(1) - z_(3))``: invariant to shifting and scaling the
  logits, so a model cannot hide behind saturated softmax (gradient masking).
* ``margin``: ``max_{i!=y} z_i - z_y`` (Carlini & Wagner, 2017), positive once the
  example is misclassified.
* ``frame_bce``: the mean sigmoid binary cross-entropy of multi-label logits against
  0/1 targets, e.g. a transcriber's per-frame pitch logits ``[N, frames, pitches]``
  against a piano roll. Untargeted, the roll is the true one (ascend: the
  transcription moves away from it); targeted, it is the roll to be heard (descend).
  The training loss of ``audiojax.transcription`` is its weighted batch mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from audiojax.registry import Registry


def ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def _true_and_best_other(logits, labels):
  true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  others = jnp.where(jax.nn.one_hot(labels, logits.shape[-1]) > 0, -jnp.inf, logits)
  return true, jnp.max(others, axis=-1)


def margin(logits: jax.Array, labels: jax.Array) -> jax.Array:
  true, other = _true_and_best_other(logits, labels)
  return other - true


def dlr(logits: jax.Array, labels: jax.Array) -> jax.Array:
  if logits.shape[-1] < 3:
    raise ValueError(f"the DLR loss needs at least 3 classes, got {logits.shape[-1]}")
  true, other = _true_and_best_other(logits, labels)
  top = jnp.sort(logits, axis=-1)
  return (other - true) / (top[:, -1] - top[:, -3] + 1e-12)


def frame_bce(logits: jax.Array, rolls: jax.Array) -> jax.Array:
  """Mean sigmoid BCE over every axis but the first: ``[N, ..., P] -> [N]``."""
  losses = optax.sigmoid_binary_cross_entropy(logits, rolls.astype(logits.dtype))
  return losses.reshape(losses.shape[0], -1).mean(axis=1)


LOSSES: Registry = Registry(
  "attack loss", {"ce": ce, "dlr": dlr, "margin": margin, "frame_bce": frame_bce}
)
