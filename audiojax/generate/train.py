"""Training the spectrogram generator through the shared loop.

The music set becomes mel images with conditions (:mod:`audiojax.generate.data`); the
conditional U-Net learns them by the configured objective (rectified flow or DDPM,
:mod:`audiojax.generate.diffusion`) with the condition dropped per example for
classifier-free guidance (Ho & Salimans, 2022) and an EMA of the params in the
optimizer state. What :func:`audiojax.train.restore` needs is written beside the
checkpoints: ``model.json`` (label names, vocabulary), ``vocab.json`` and the training
split's conditions.

``config.exclude`` (an opt-out request, :class:`audiojax.generate.data.OptOut`)
leaves clips out of training: the retrained generator of generator unlearning. The
vocabulary and label spaces are still those of the whole training split, so the
retrained generator takes the same conditions as the original one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from audiojax.data import pipeline
from audiojax.generate import data as gen_data
from audiojax.generate import diffusion, melimage
from audiojax.generate.generator import Generator, save_conditions
from audiojax.generate.unet import drop_condition
from audiojax.train import loop, losses, optim, runs
from audiojax.train.state import LossFn, TrainState


def make_loss_fn(
  objective: diffusion.Objective,
  apply_fn: Callable[..., jax.Array],
  cond_dropout: float,
  t_schedule: str,
) -> LossFn:
  """The objective's loss with the condition dropped per example (for guidance).

  The mean over the batch, or the weighted mean when the batch has a ``"weight"``
  field (:func:`audiojax.train.losses.weighted_mean`: reward-weighted regression in
  the rating GA, retain/forget weights in unlearning).
  """

  def loss_fn(params, batch, key):
    drop_key, loss_key = jax.random.split(key)
    cond = drop_condition(
      {k: batch[k] for k in ("family", "collection", "tokens")}, drop_key, cond_dropout
    )
    model_fn = lambda x, t: apply_fn(params, x, t, cond)
    per_example = diffusion.loss(
      objective, model_fn, batch["image"], loss_key, t_schedule=t_schedule
    )
    return losses.weighted_mean(per_example, batch.get("weight")), {}

  return loss_fn


def config_loss_fn(
  config: ml_collections.ConfigDict, generator: Generator, cond_dropout: float
) -> LossFn:
  """:func:`make_loss_fn` with a ``music_generator`` config's objective and times."""
  return make_loss_fn(
    diffusion.OBJECTIVES.get(config.objective)(),
    generator.unet.apply,
    cond_dropout,
    config.t_schedule,
  )


def train(
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  on_step: Callable[[int, int], None] | None = None,
) -> tuple[Generator, TrainState, int]:
  """Trains the generator of ``config`` in ``workdir``, or resumes it there.

  Args:
    config: a ``music_generator`` config.
    workdir: the run directory.
    on_step: ``(step, total)`` progress, see :func:`audiojax.train.loop.train`.

  Returns:
    The generator, the final training state (its EMA params are
    ``optim.eval_params(config, state.params, state.opt_state)``) and the number of
    training examples.
  """
  os.makedirs(workdir, exist_ok=True)
  spec = melimage.MelImageSpec(**config.mel.to_dict())
  split, vocab = gen_data.load_split(
    config.dataset, "train", spec, None, config.caption_length
  )
  if config.get("exclude"):
    withdrawn = gen_data.OptOut.parse(config.exclude).check(split)
    split = split.subset(np.flatnonzero(~withdrawn))
  generator = Generator.from_config(
    config, vocab, split.family_names, split.collection_names
  )
  with open(os.path.join(workdir, "vocab.json"), "w") as f:
    f.write(vocab.to_json())
  save_conditions(workdir, gen_data.conditions(split, slice(None)))
  runs.write_model_info(workdir, generator.info())

  task = loop.Task(
    init_params=generator.init,
    loss_fn=config_loss_fn(config, generator, config.cond_dropout),
    train_data=pipeline.TrainIterator(
      split.source, config.batch_size, seed=config.seed
    ),
  )
  tx, schedule = optim.make_optimizer(config)
  state, _ = loop.train(
    task,
    tx,
    loop.LoopConfig.from_config(config),
    workdir,
    schedule=schedule,
    on_step=on_step,
  )
  return generator, state, len(split)
