"""Robust accuracy: a classifier's accuracy on one split under an attack, per budget.

For every batch of the split, the registered attack (``audiojax.attacks.ATTACKS``)
runs against the params being evaluated at each budget; correct counts stream in
integer sums, so the numbers are exact whatever the batch size or device count. A
budget is an ``eps`` of the attack's norm or, with ``budget="snr"``, an SNR in dB that
becomes each clip's own L2 radius (``attacks.budget.snr_radius``). Keys are
``fold_in(key(seed), batch)``, so a rerun attacks with the same random starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax import data
from audiojax.attacks import ATTACKS, budget
from audiojax.data import pipeline


class RobustAccuracyEvaluator:
  """Clean and attacked accuracy of the run's classifier on one split.

  Args:
    name: the evaluator's name.
    context: the run (``model`` a waveform classifier).
    split: which split of ``context.dataset``.
    batch_size: examples per batch.
    attack: a name in ``ATTACKS``.
    budgets: the budgets to attack at (eps values, or SNRs in dB).
    norm: the attack's norm ("linf" or "l2"; "l2" for SNR budgets).
    budget_kind: "eps" or "snr".
    attack_kwargs: passed on to the attack (e.g. ``steps``).
    max_examples: evaluate only the first examples of the split (0: all).
  """

  def __init__(
    self,
    name: str,
    context: Any,
    *,
    split: str,
    batch_size: int,
    attack: str,
    budgets: Sequence[float],
    norm: str = "linf",
    budget_kind: str = "eps",
    attack_kwargs: Mapping[str, Any] | None = None,
    max_examples: int = 0,
  ):
    if budget_kind not in ("eps", "snr"):
      raise ValueError(f"budget_kind must be 'eps' or 'snr', got {budget_kind!r}")
    if budget_kind == "snr" and norm != "l2":
      raise ValueError(
        f"an SNR budget is an L2 radius; norm must be 'l2', not {norm!r}"
      )
    self.name = name
    self.split = data.load_split(context.dataset, split)
    self.batch_size = batch_size
    self.attack = ATTACKS.get(attack)
    self.budgets = [float(b) for b in budgets]
    self.norm, self.budget_kind = norm, budget_kind
    self.attack_kwargs = dict(attack_kwargs or {})
    self.max_examples = max_examples
    self.apply_fn = context.model.apply
    self.seed = context.seed

  def run(self, params: Any) -> dict[str, Any]:
    logits_fn = jax.jit(lambda x: self.apply_fn(params, x))
    correct = np.zeros(1 + len(self.budgets), np.int64)
    count, root = 0, jax.random.key(self.seed)
    for b, batch in enumerate(pipeline.eval_batches(self.split, self.batch_size)):
      keep = batch["mask"]
      if self.max_examples:
        keep = keep & (count + np.arange(len(keep)) < self.max_examples)
      if not keep.any():
        break
      x, y = jnp.asarray(batch["audio"]), jnp.asarray(batch["label"])
      hits = [np.asarray(jnp.argmax(logits_fn(x), -1) == y)]
      for i, b_value in enumerate(self.budgets):
        eps = budget.snr_radius(x, b_value) if self.budget_kind == "snr" else b_value
        key = jax.random.fold_in(jax.random.fold_in(root, b), i)
        adv = self.attack(
          logits_fn, x, y, key, eps=eps, norm=self.norm, **self.attack_kwargs
        )
        hits.append(np.asarray(jnp.argmax(logits_fn(adv), -1) == y))
      correct += np.array([int(np.sum(h & keep)) for h in hits])
      count += int(keep.sum())
    if count == 0:
      raise ValueError(f"evaluator {self.name!r} evaluated no examples")
    return {
      "count": count,
      "clean_accuracy": correct[0] / count,
      "robust_accuracy": {
        f"{b:g}": correct[1 + i] / count for i, b in enumerate(self.budgets)
      },
    }
