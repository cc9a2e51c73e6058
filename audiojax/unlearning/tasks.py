"""What an unlearning method trains: the task behind its loss.

The methods (:mod:`audiojax.unlearning.methods`) are written once against a
:class:`Task`: the weighted loss of a batch, the per-example loss saliency is
measured with, the fields a set holds, and how a forget example is "relabelled"
(given a wrong target, for random labelling and SalUn). Two tasks exist:

* :data:`CLASSIFICATION` (the default of :func:`audiojax.unlearning.unlearn`):
  cross-entropy on ``{"audio", "label"}``; relabelling draws a random other class.
* the denoising task of a conditional generator
  (:func:`audiojax.unlearning.denoising.denoising_task`): the flow-matching or DDPM
  loss on ``{"image", "family", "collection", "tokens"}``; relabelling pairs a
  forget image with the conditions of a random retain example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import optax

from audiojax.train import losses

Batch = dict[str, jax.Array]
ApplyFn = Callable[..., jax.Array]
# (params, batch, key) -> (weighted mean loss, metrics): the shared loss contract.
LossFn = Callable[[Any, Batch, jax.Array], tuple[jax.Array, dict]]
# (forget batch, retain set, key) -> the forget batch with wrong targets.
Relabel = Callable[[Batch, Batch, jax.Array], Batch]


@dataclasses.dataclass(frozen=True)
class Task:
  """A family of models the unlearning methods can train.

  Attributes:
    name: what methods list in ``Method.tasks``.
    fields: what every retain and forget set must hold.
    loss: ``apply_fn -> LossFn`` (training mode; batches may carry ``weight``).
    example_losses: ``apply_fn -> (params, batch, key) -> [B]`` deterministic
      per-example losses (evaluation mode), for weight saliency.
    relabeller: ``(params, apply_fn, forget) -> Relabel``.
  """

  name: str
  fields: tuple[str, ...]
  loss: Callable[[ApplyFn], LossFn]
  example_losses: Callable[[ApplyFn], Callable[[Any, Batch, jax.Array], jax.Array]]
  relabeller: Callable[[Any, ApplyFn, Batch], Relabel]


def random_other_labels(labels: jax.Array, key: jax.Array, num_classes: int):
  """A uniformly random label different from each true one."""
  shift = jax.random.randint(key, labels.shape, 1, num_classes)
  return (labels + shift) % num_classes


def _ce_per_example(apply_fn: ApplyFn):
  def fn(params, batch, key):
    del key
    logits = apply_fn(params, batch["audio"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])

  return fn


def _class_relabeller(params, apply_fn: ApplyFn, forget: Batch) -> Relabel:
  logits = jax.eval_shape(lambda p, x: apply_fn(p, x), params, forget["audio"][:1])
  num_classes = int(logits.shape[-1])

  def relabel(batch, retain, key):
    del retain
    return {**batch, "label": random_other_labels(batch["label"], key, num_classes)}

  return relabel


CLASSIFICATION = Task(
  name="classification",
  fields=("audio", "label"),
  loss=losses.classification_loss,
  example_losses=_ce_per_example,
  relabeller=_class_relabeller,
)
