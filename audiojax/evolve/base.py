"""The base generator of a GA session: restored if trained, else trained first.

A session steers a trained generator. ``config.generator_workdir`` may name a finished
``music_generator`` run; otherwise the session trains one (its ``config.generator``)
in ``WORKDIR/generator``, resumably. Either way the session gets it through
:func:`audiojax.train.restore`, so a finished generator is loaded without touching
the data set, and an unfinished one is trained to the end first.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import ml_collections

from audiojax import experiment
from audiojax.generate import train as gen_train
from audiojax.generate.generator import GeneratorRun
from audiojax.train.checkpoint import CheckpointError
from audiojax.train.runs import restore


def generator_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  return config.generator_workdir or os.path.join(workdir, "generator")


def load(
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  on_step: Callable[[int, int], None] | None = None,
) -> GeneratorRun:
  """The session's base generator, trained to the end first if it is not.

  Args:
    config: a ``human_ga`` config.
    workdir: the session directory.
    on_step: ``(step, total)`` while the generator trains (progress for the app).
  """
  path = generator_dir(config, workdir)
  try:
    run = restore(path)
    if run.step >= run.config.total_steps:
      return run
  except CheckpointError:
    pass  # Nothing trained there yet.
  experiment.save_config(config.generator, path)
  gen_train.train(config.generator, path, on_step=on_step)
  return restore(path)
