"""The optimizer every experiment builds from its config, and which params it evaluates.

AdamW (Loshchilov & Hutter, 2019) after global-norm clipping, on a warm-up + cosine
schedule; with ``optimizer.ema_decay > 0`` an exponential moving average of the params
rides in the optimizer state (:mod:`audiojax.train.ema`), and the average is what the
run is evaluated and restored with.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import optax

from audiojax.train.ema import ema_params, track_ema


def make_optimizer(
  config: ml_collections.ConfigDict,
) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """The optimizer and learning-rate schedule of ``config.optimizer``.

  Args:
    config: with ``total_steps`` and ``optimizer.{learning_rate, warmup_steps,
      final_lr_fraction, weight_decay, grad_clip, ema_decay}``.

  Returns:
    ``(tx, schedule)``.
  """
  opt = config.optimizer
  schedule = optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=opt.learning_rate,
    warmup_steps=opt.warmup_steps,
    decay_steps=config.total_steps,
    end_value=opt.learning_rate * opt.final_lr_fraction,
  )
  tx = optax.chain(
    optax.clip_by_global_norm(opt.grad_clip),
    optax.adamw(schedule, weight_decay=opt.weight_decay),
  )
  if opt.ema_decay:
    tx = optax.chain(tx, track_ema(opt.ema_decay))
  return tx, schedule


def eval_params(config: ml_collections.ConfigDict, params: Any, opt_state: Any) -> Any:
  """The params a run is judged by: the EMA where the optimizer keeps one."""
  return ema_params(opt_state) if config.optimizer.ema_decay else params
