"""Membership inference as an evaluator: how well a loss attack tells the run's
training clips from clips it never saw (the unlearning suite's loss MIA,
:func:`audiojax.unlearning.metrics.loss_mia`, on two splits of the run's data).

  config.evals.mia = dict(type="membership", members="train", nonmembers="test",
                          batch_size=64, max_examples=512)

An AUC near 0.5 means the losses give membership away no better than chance.
Unlike the streaming evaluators, an AUC needs every example's loss, so the
per-example losses of both splits (at most ``max_examples`` each) are kept.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax

from audiojax import data
from audiojax.data import pipeline
from audiojax.unlearning import metrics


class MembershipEvaluator:
  """Loss-attack AUC and accuracy of ``members`` against ``nonmembers``.

  Args:
    name: the evaluator's name.
    context: the run (``model`` a classifier, ``dataset`` its config).
    members: the split the model trained on (or was asked to forget).
    nonmembers: a split it never saw.
    batch_size: examples per batch.
    max_examples: the first examples of each split used (None: all).
    seed: the attack's cross-validation seed.
  """

  def __init__(
    self,
    name: str,
    context: Any,
    *,
    members: str,
    nonmembers: str,
    batch_size: int,
    max_examples: int | None = None,
    seed: int = 0,
  ):
    self.name = name
    self.splits = {
      "member": data.load_split(context.dataset, members),
      "nonmember": data.load_split(context.dataset, nonmembers),
    }
    self.batch_size, self.max_examples, self.seed = batch_size, max_examples, seed
    apply_fn = context.model.apply
    self._loss = jax.jit(
      lambda p, x, y: optax.softmax_cross_entropy_with_integer_labels(apply_fn(p, x), y)
    )

  def _losses(self, params, split) -> np.ndarray:
    out, count = [], 0
    for batch in pipeline.eval_batches(split, self.batch_size):
      loss = np.asarray(self._loss(params, batch["audio"], batch["label"]))
      out.append(loss[batch["mask"]])
      count += int(batch["mask"].sum())
      if self.max_examples is not None and count >= self.max_examples:
        break
    return np.concatenate(out)[: self.max_examples]

  def run(self, params: Any) -> dict[str, float]:
    member = self._losses(params, self.splits["member"])
    nonmember = self._losses(params, self.splits["nonmember"])
    mia = metrics.loss_mia(member, nonmember, seed=self.seed)
    return {
      "auc": mia["auc"],
      "accuracy": mia["accuracy"],
      "member_loss": float(member.mean()),
      "nonmember_loss": float(nonmember.mean()),
    }
