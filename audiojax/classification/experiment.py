"""The ``classifier`` experiment: train a waveform classifier, evaluate, report.

The config names a data set (``audiojax.data.DATASETS``), a front end
(``audiojax.frontends.FRONTENDS``), a backbone (``audiojax.models.MODELS``) and its
evaluators (``config.evals``, ``audiojax.evaluators.EVALUATORS``); everything else is
the shared loop. A finished run is loaded with :func:`audiojax.train.restore`.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import ml_collections

from audiojax import data, evaluators
from audiojax.data import pipeline
from audiojax.defenses import training
from audiojax.models import classifier
from audiojax.train import augment, loop, optim, report, runs


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains and evaluates a classifier (resuming from ``workdir``).

  Returns:
    The numbers of ``results.json``: ``{eval}_{metric}`` for every evaluator, and
    what was trained on what.
  """
  mesh = pipeline.make_mesh(config.num_devices)
  train_split = data.load_split(config.dataset, "train")
  info = classifier.model_info(train_split)
  runs.write_model_info(workdir, info)
  model, init_params = classifier.restorable(config, info)
  context = evaluators.Context(model, config.dataset, config.seed, workdir, mesh)
  task = loop.Task(
    init_params=init_params,
    loss_fn=augment.wrap(
      training.training_loss(model.apply, config.adversarial), config.augment
    ),
    train_data=pipeline.TrainIterator(train_split, config.batch_size, seed=config.seed),
    evaluators=evaluators.build(config.evals, context),
  )
  tx, schedule = optim.make_optimizer(config)
  start = time.perf_counter()
  state, final = loop.train(
    task, tx, loop.LoopConfig.from_config(config), workdir, mesh=mesh, schedule=schedule
  )
  seconds = time.perf_counter() - start

  results: dict[str, Any] = {
    "dataset": config.dataset.name,
    "label": train_split.label_key,
    "frontend": config.frontend.name,
    "model": config.model.name,
    "adversarial_training": config.adversarial.method,
    "augment": config.augment.to_dict(),
    "steps": int(state.step),
    "train_examples": len(train_split),
    "num_params": sum(x.size for x in jax.tree.leaves(state.params)),
    "wall_seconds_this_invocation": round(seconds, 1),
    "class_names": list(train_split.class_names),
  }
  for name, metrics in final.items():
    for key, value in metrics.items():
      results[f"{name}_{key}"] = value
  report.confusion_png(
    f"{workdir}/confusion.png",
    final[config.confusion_from]["confusion"],
    train_split.class_names,
    title=f"{config.confusion_from} confusion",
  )
  return results
