"""The defense tables of the ``attacks`` experiment.

* Adversarial training: the target classifier fine-tuned from its checkpoint with
  each method of :mod:`audiojax.defenses.training` (and, as the control, with plain
  cross-entropy for the same steps), then attacked with PGD and APGD-CE at every
  eps: clean accuracy and robust accuracy side by side.
* Input transforms (:mod:`audiojax.defenses.transforms`) in front of the target:
  accuracy with the transform alone, success of a *static* attack (crafted on the
  bare model) and of an *adaptive* one (EOT-PGD through the transform with its BPDA
  or exact gradient), each averaged over ``draws`` of a random transform.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np

from audiojax.attacks.apgd import apgd
from audiojax.defenses import transforms
from audiojax.robustness import models, playback, sections
from audiojax.robustness.models import LogitsFn
from audiojax.train import runs


def finetune_config(
  target: runs.Run, adversarial: Mapping[str, Any], cfg: Mapping[str, Any]
) -> ml_collections.ConfigDict:
  """The target's config, fine-tuned from its last checkpoint with ``adversarial``."""
  c = ml_collections.ConfigDict(target.config.to_dict())
  c.name = f"{c.name}, fine-tuned with adversarial training {adversarial['method']}"
  c.adversarial.update(dict(adversarial))
  c.model_init = os.path.join(target.workdir, "checkpoints")
  c.resume = None
  c.total_steps = int(cfg["steps"])
  if not 0 <= int(cfg["warmup_steps"]) < c.total_steps:
    raise ValueError(
      f"fine-tuning warmup_steps={cfg['warmup_steps']} must be below its "
      f"steps={c.total_steps}"
    )
  c.optimizer.learning_rate = float(cfg["learning_rate"])
  c.optimizer.warmup_steps = int(cfg["warmup_steps"])
  c.eval_every = c.checkpoint_every = c.total_steps
  c.log_every = int(np.gcd(c.log_every, c.total_steps))
  return c


def _apgd_fn(fn: LogitsFn, steps: int):
  return jax.jit(
    lambda x, y, key, eps: apgd(fn, x, y, key, eps=eps, steps=steps, loss="ce")
  )


def robust_row(
  fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps: Sequence[float],
  steps: int,
  apgd_steps: int,
  batch_size: int,
) -> dict[str, Any]:
  """Clean accuracy and, per eps, the accuracy under PGD and under APGD-CE."""
  y_np = np.asarray(y)

  def acc(v):
    return float(np.mean(models.predictions(fn, v, batch_size) == y_np))

  row: dict[str, Any] = {"clean_accuracy": acc(x), "pgd": {}, "apgd_ce": {}}
  pgd, auto = sections.pgd_fn(fn, steps=steps), _apgd_fn(fn, apgd_steps)
  for e in eps:
    row["pgd"][f"{e:g}"] = acc(sections.attack_batches(pgd, x, y, key, e, batch_size))
    row["apgd_ce"][f"{e:g}"] = acc(
      sections.attack_batches(auto, x, y, key, e, batch_size)
    )
  return row


def adversarial_training(
  target: runs.Run,
  methods: Mapping[str, Mapping[str, Any]],
  cfg: Mapping[str, Any],
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  workdir: str,
  batch_size: int,
) -> dict[str, Any]:
  """One fine-tuned classifier per method; each row as :func:`robust_row`."""
  eval_kw = dict(
    eps=list(cfg["eval_eps"]),
    steps=int(cfg["attack_steps"]),
    apgd_steps=int(cfg["apgd_steps"]),
    batch_size=batch_size,
  )
  table = {"original": robust_row(models.logits_fn(target), x, y, key, **eval_kw)}
  for name, adversarial in methods.items():
    run = runs.train_or_restore(
      finetune_config(target, adversarial, cfg), os.path.join(workdir, name)
    )
    row = robust_row(models.logits_fn(run), x, y, key, **eval_kw)
    table[name] = {**row, "trained": dict(adversarial), "steps": run.step}
  return table


def transform_table(
  fn: LogitsFn,
  specs: Mapping[str, Mapping[str, Any]],
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps: float,
  steps: int,
  samples: int,
  draws: int,
  batch_size: int,
  sample_rate: int,
) -> dict[str, dict[str, Any]]:
  """Accuracy with each transform, static and adaptive success rates."""
  y_np = np.asarray(y)
  static = sections.attack_batches(
    sections.pgd_fn(fn, steps=steps), x, y, key, eps, batch_size
  )
  table = {}
  for name, spec in specs.items():
    t = transforms.TRANSFORMS.get(spec["name"])(sample_rate, **spec.get("kwargs", {}))
    adaptive = sections.attack_batches(
      playback.eot_fn(fn, t.fn, steps=steps, samples=samples if t.random else 1),
      x,
      y,
      key,
      eps,
      batch_size,
    )
    rows = {"accuracy": [], "static_success": [], "adaptive_success": []}
    for d in range(draws if t.random else 1):
      k = jax.random.fold_in(key, 1000 + d)
      defended = jax.jit(lambda v, k=k, t=t: fn(t.fn(v, k)))
      correct = models.predictions(defended, x, batch_size) == y_np
      rows["accuracy"].append(float(np.mean(correct)))
      rows["static_success"].append(
        models.success_rate(defended, static, y, correct, batch_size)
      )
      rows["adaptive_success"].append(
        models.success_rate(defended, adaptive, y, correct, batch_size)
      )
    table[name] = {
      "transform": t.name,
      "gradient": t.gradient,
      "random": t.random,
      **{k: float(np.mean(v)) for k, v in rows.items()},
    }
  undefended = models.predictions(fn, x, batch_size) == y_np
  table["none"] = {
    "transform": "none",
    "accuracy": float(np.mean(undefended)),
    "static_success": models.success_rate(fn, static, y, undefended, batch_size),
  }
  return table
