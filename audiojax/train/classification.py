"""Supervised audio classification: data set × front end × model, trained by the loop.

``run(config, workdir)`` is the ``classifier`` experiment kind. The config names a data
set (``audiojax.data.DATASETS``), a front end (``audiojax.frontends.FRONTENDS``) and a
backbone (``audiojax.models.MODELS``); everything else is the shared loop.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from audiojax import data as data_lib
from audiojax import frontends, models
from audiojax.data import pipeline
from audiojax.models.classifier import WaveformClassifier
from audiojax.train import loop, report
from audiojax.train.metrics import Classification


def build_model(
  config: ml_collections.ConfigDict, num_classes: int, sample_rate: int
) -> WaveformClassifier:
  """The waveform classifier a config describes."""
  frontend = frontends.FRONTENDS.get(config.frontend.name)(
    sample_rate=sample_rate, **config.frontend.get("kwargs", {})
  )
  backbone = models.MODELS.get(config.model.name)(
    num_classes=num_classes, **config.model.get("kwargs", {})
  )
  return WaveformClassifier(frontend=frontend, backbone=backbone)


def make_loss_fn(apply_fn):
  """Mean softmax cross-entropy of ``apply_fn(params, audio)`` against ``label``."""

  def loss_fn(params, batch, key):
    logits = apply_fn(params, batch["audio"], train=True, rngs={"dropout": key})
    loss = optax.softmax_cross_entropy_with_integer_labels(
      logits, batch["label"]
    ).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return loss, {"accuracy": accuracy}

  return loss_fn


@functools.cache
def _eval_step(apply_fn):
  @jax.jit
  def step(params, batch):
    logits = apply_fn(params, batch["audio"])
    return Classification.from_batch(logits, batch["label"], batch["mask"])

  return step


class ClassificationEvaluator:
  """Loss, accuracy and confusion over a whole split, streamed batch by batch."""

  def __init__(
    self,
    name: str,
    split: data_lib.AudioSplit,
    batch_size: int,
    apply_fn,
    mesh: jax.sharding.Mesh,
  ):
    self.name = name
    self.split = split
    self.batch_size = batch_size
    self.apply_fn = apply_fn
    self.mesh = mesh

  def run(self, params: Any) -> dict[str, Any]:
    step = _eval_step(self.apply_fn)
    total = Classification.empty(self.split.num_classes)
    for batch in pipeline.eval_batches(self.split, self.batch_size):
      total = total.merge(step(params, pipeline.shard_batch(batch, self.mesh)))
    return total.compute()


def load_split(config: ml_collections.ConfigDict, split: str) -> data_lib.AudioSplit:
  ds = config.dataset
  out = data_lib.load(
    ds.name,
    split,
    data_dir=ds.get("data_dir"),
    config=ds.get("config"),
    label=ds.get("label"),
  )
  return pipeline.load_in_memory(out) if ds.get("in_memory", True) else out


def make_optimizer(
  config: ml_collections.ConfigDict,
) -> tuple[optax.GradientTransformation, optax.Schedule]:
  opt = config.optimizer
  schedule = optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=opt.learning_rate,
    warmup_steps=opt.warmup_steps,
    decay_steps=config.total_steps,
    end_value=opt.learning_rate * opt.get("final_lr_fraction", 0.01),
  )
  tx = optax.chain(
    optax.clip_by_global_norm(opt.get("grad_clip", 1.0)),
    optax.adamw(schedule, weight_decay=opt.weight_decay),
  )
  return tx, schedule


def loop_config(config: ml_collections.ConfigDict) -> loop.LoopConfig:
  return loop.LoopConfig(
    total_steps=config.total_steps,
    log_every=config.log_every,
    eval_every=config.get("eval_every", 0),
    checkpoint_every=config.get("checkpoint_every", 0),
    max_to_keep=config.get("max_to_keep", 2),
    seed=config.seed,
    resume=config.get("resume"),
    model_init=config.get("model_init"),
    progress=config.get("progress", True),
  )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains and evaluates a classifier; returns the numbers of ``results.json``."""
  return train(config, workdir)[2]


def train(
  config: ml_collections.ConfigDict, workdir: str
) -> tuple[WaveformClassifier, Any, dict[str, Any]]:
  """Trains and evaluates a classifier (resuming from ``workdir``).

  Returns:
    The model, its trained params and the numbers of ``results.json``.
  """
  mesh = pipeline.make_mesh(config.get("num_devices"))
  train_split = load_split(config, "train")
  evals = {name: load_split(config, name) for name in config.eval_splits}
  model = build_model(config, train_split.num_classes, train_split.sample_rate)
  example = jnp.zeros((1, train_split.clip_samples), jnp.float32)
  task = loop.Task(
    init_params=lambda key: model.init(key, example),
    loss_fn=make_loss_fn(model.apply),
    train_data=pipeline.TrainIterator(train_split, config.batch_size, seed=config.seed),
    evaluators=[
      ClassificationEvaluator(name, split, config.eval_batch_size, model.apply, mesh)
      for name, split in evals.items()
    ],
  )
  tx, schedule = make_optimizer(config)
  start = time.perf_counter()
  state, final = loop.train(
    task, tx, loop_config(config), workdir, mesh=mesh, schedule=schedule
  )
  seconds = time.perf_counter() - start

  results: dict[str, Any] = {
    "dataset": config.dataset.name,
    "label": train_split.label_key,
    "frontend": config.frontend.name,
    "model": config.model.name,
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
    final[config.eval_splits[-1]]["confusion"],
    train_split.class_names,
    title=f"{config.eval_splits[-1]} confusion",
  )
  return model, state.params, results
