"""Detecting adversarial inputs, and the attacker who knows the detector.

Two kinds of detector meet an adversarial clip:

* the unsupervised detectors of :data:`audiojax.anomaly.DETECTORS`, fit on clean
  clips only (an attack that stays near the data fools them, one that leaves a trace
  in the statistics or the embedding does not);
* a *supervised* detector (Metzen et al., 2017, "On detecting adversarial
  perturbations"): a binary classifier of the same waveform architectures, trained
  with the shared loop on clean clips (label 0) and adversarial versions of them
  (label 1). :func:`train_detector` builds it; its score is the logit of "adversarial".

An adaptive attacker (Carlini & Wagner, 2017, "Adversarial examples are not easily
detected") attacks the classifier and the supervised detector at once:
:func:`adaptive_pgd` maximises ``CE(classifier(x'), y) - weight * softplus(d(x'))``,
where ``d`` is the detector's logit, so the examples both fool the classifier and look
clean to the detector. Reporting detection AUROC on those examples, and the attack's
success rate, is what says whether a detector helps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.attacks import budget
from audiojax.data import pipeline
from audiojax.data.source import ArraySource
from audiojax.models.classifier import WaveformClassifier, build_classifier
from audiojax.train import loop, losses, optim

LogitsFn = Callable[[jax.Array], jax.Array]


def train_detector(
  config: ml_collections.ConfigDict,
  clean: np.ndarray,
  adversarial: np.ndarray,
  *,
  sample_rate: int,
  workdir: str,
) -> tuple[WaveformClassifier, Any]:
  """A binary classifier of ``config`` (a ``classifier`` config: front end, model,
  optimizer, loop fields) trained on clean (0) vs adversarial (1) clips.

  One run of the shared loop in ``workdir`` (resumable; a finished run restores).

  Returns:
    ``(model, params)``; ``model.apply(params, x)[:, 1] - [:, 0]`` is the logit of
    "adversarial".
  """
  clean = np.asarray(clean, np.float32)
  adversarial = np.asarray(adversarial, np.float32)
  if clean.shape[1:] != adversarial.shape[1:] or clean.ndim != 2:
    raise ValueError(
      f"clean {clean.shape} and adversarial {adversarial.shape} must be "
      "[clips, samples] of one length"
    )
  audio = np.concatenate([clean, adversarial])
  label = np.concatenate([np.zeros(len(clean)), np.ones(len(adversarial))])
  model = build_classifier(config, 2, sample_rate)
  example = jnp.zeros((1, audio.shape[1]), jnp.float32)
  task = loop.Task(
    init_params=jax.jit(lambda key: model.init(key, example)),
    loss_fn=losses.classification_loss(model.apply),
    train_data=pipeline.TrainIterator(
      ArraySource({"audio": audio, "label": label.astype(np.int32)}),
      config.batch_size,
      seed=config.seed,
    ),
  )
  tx, schedule = optim.make_optimizer(config)
  os.makedirs(workdir, exist_ok=True)
  state, _ = loop.train(
    task,
    tx,
    loop.LoopConfig.from_config(config),
    workdir,
    mesh=pipeline.make_mesh(config.num_devices),
    schedule=schedule,
  )
  return model, optim.eval_params(config, state.params, state.opt_state)


def detector_logit_fn(model: WaveformClassifier, params: Any) -> LogitsFn:
  """``x -> [B]`` the supervised detector's logit of "adversarial" (jitted)."""

  @jax.jit
  def logit(x):
    out = model.apply(params, x)
    return out[:, 1] - out[:, 0]

  return logit


def scores(fn: LogitsFn, x: jax.Array, batch_size: int) -> np.ndarray:
  """``fn`` over ``x`` in batches, as float64 numpy."""
  return np.concatenate(
    [np.asarray(fn(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
  ).astype(np.float64)


def adaptive_pgd(
  logits_fn: LogitsFn,
  detector_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps: float,
  step_size: float,
  steps: int,
  weight: float,
  norm: str = "linf",
) -> jax.Array:
  """PGD against a classifier and a detector together (untargeted).

  Maximises ``CE(logits_fn(x'), y) - weight * softplus(detector_fn(x'))`` per example
  inside the ``norm`` ball of ``eps`` and [-1, 1], from a random start; with
  ``weight = 0`` it is plain PGD. Jit-friendly; deterministic given ``key``.

  Returns:
    The adversarial batch.
  """

  def objective(v):
    logits = logits_fn(v)
    ce = -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=-1)[:, 0]
    return jnp.sum(ce - weight * jax.nn.softplus(detector_fn(v)))

  x_adv = budget.constrain(x, x + budget.random_point(key, x, eps, norm), eps, norm)

  def body(_, v):
    g = jax.grad(objective)(v)
    return budget.constrain(x, v + step_size * budget.steepest(g, norm), eps, norm)

  return jax.lax.fori_loop(0, steps, body, x_adv)


__all__ = ["adaptive_pgd", "detector_logit_fn", "scores", "train_detector"]
