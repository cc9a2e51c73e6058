"""Classification over a whole split: loss, accuracy, balanced accuracy, confusion.

Streams ``Classification`` sums and counts (:mod:`audiojax.train.metrics`) batch by
batch; the padded rows of the last batch are masked out. The jitted step is cached
per model, so every evaluator of a run, and every run in a process, compiles it once.
"""

from __future__ import annotations

import functools
from typing import Any

import jax

from audiojax import data
from audiojax.data import pipeline
from audiojax.train.metrics import Classification


@functools.cache
def _eval_step(apply_fn):
  @jax.jit
  def step(params, batch):
    logits = apply_fn(params, batch["audio"])
    return Classification.from_batch(logits, batch["label"], batch["mask"])

  return step


class ClassificationEvaluator:
  """Loss, accuracy and confusion of the run's classifier on one split.

  Args:
    name: the evaluator's name (prefix of its metrics).
    context: the run (``model`` is a waveform classifier; ``dataset`` the config).
    split: which split of ``context.dataset``.
    batch_size: examples per evaluation batch.
    label: another label field than the data set config's.
  """

  def __init__(
    self,
    name: str,
    context: Any,
    *,
    split: str,
    batch_size: int,
    label: str | None = None,
  ):
    self.name = name
    self.split = data.load_split(context.dataset, split, label=label)
    self.batch_size = batch_size
    self.apply_fn = context.model.apply
    self.mesh = context.mesh or pipeline.make_mesh()

  def run(self, params: Any) -> dict[str, Any]:
    step = _eval_step(self.apply_fn)
    total = Classification.empty(self.split.num_classes)
    for batch in pipeline.eval_batches(self.split, self.batch_size):
      total = total.merge(step(params, pipeline.shard_batch(batch, self.mesh)))
    return total.compute()
