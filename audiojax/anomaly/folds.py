"""Out-of-fold class probabilities: K classifiers trained as one pytree.

Confident learning needs, for every example, class probabilities from a model that
never saw its label. :func:`train_fold_models` trains K classifiers of one
``classifier`` config at once through the shared loop
(:func:`audiojax.train.loop.train`, so the run is resumable and logged like any other):
``Task.init_params`` stacks K inits on a leading axis, each batch carries every
example's ``fold``, and the loss is the sum over k of model k's classification loss
with weight ``fold != k`` (:func:`fold_loss`), so model k never learns from fold k;
then model k predicts fold k (:func:`out_of_fold_probs`).

The optimizer is the config's (:func:`audiojax.train.optim.make_optimizer`), mapped
over the model axis by :func:`per_model`: its ``clip_by_global_norm`` would otherwise
take one norm over all K models, and a large gradient of one model would shrink the
steps of the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax.anomaly.mislabels import MislabelError, check_labels
from audiojax.data import pipeline
from audiojax.data.source import ArraySource
from audiojax.models.classifier import WaveformClassifier, build_classifier
from audiojax.train import loop, losses, optim
from audiojax.train.state import LossFn

# The file in a workdir that ties its checkpoint to one data set and fold split.
RUN_FILE = "mislabels.json"


def assign_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
  """Each example's fold, stratified by label: a pure function of its arguments.

  A random permutation from ``seed``, stably sorted by label, is dealt round-robin
  to the folds: every class is split as evenly as it can be (its fold counts differ
  by at most one), and so is the whole set.

  Returns:
    ``fold`` ``[n]`` int32 in ``[0, folds)``.
  """
  labels = np.asarray(labels)
  if not isinstance(folds, numbers.Integral) or not 2 <= folds <= len(labels):
    raise MislabelError(
      f"folds must be an int in [2, {len(labels)}] (the examples), got {folds!r}"
    )
  perm = np.random.default_rng(seed).permutation(len(labels))
  order = perm[np.argsort(labels[perm], kind="stable")]
  fold = np.empty(len(labels), np.int32)
  fold[order] = np.arange(len(labels)) % folds
  return fold


def per_model(tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """``tx`` applied independently to every slice of params stacked on axis 0.

  Each model gets its own optimizer state (moments, step count, EMA) and, for a
  ``clip_by_global_norm`` in ``tx``, its own norm: the update of model k depends on
  model k's gradients only, exactly as if it were trained alone.
  """
  return optax.GradientTransformation(jax.vmap(tx.init), jax.vmap(tx.update))


STACKS = ("unroll", "vmap")


def fold_loss(
  apply_fn: Callable[..., jax.Array], folds: int, stack: str = "unroll"
) -> LossFn:
  """The loss of ``folds`` stacked classifiers, model k trained off fold k.

  ``sum_k classification_loss(params[k], batch with weight = (fold != k))``, each
  model with its own dropout key. A weight of 0 adds exactly zero to model k's loss
  and gradient, so the labels of fold k never reach model k (a batch with no example
  outside fold k gives model k a zero gradient).

  Args:
    apply_fn: the classifier's ``apply``.
    folds: ``K``, the leading axis of the params.
    stack: how the K models share one step. ``"unroll"``: K copies of the model in
      the traced step (compile time grows with K); ``"vmap"``: one ``jax.vmap`` over
      the model axis. Both give the same loss and gradients; on XLA's CPU backend the
      vmapped convolutions over stacked weights run about 8x slower than K separate
      ones (``benchmarks/fold_models.py``), so ``"unroll"`` is the default.

  Returns:
    ``loss_fn(params, batch, key)``; ``batch`` holds ``audio``, ``label`` and
    ``fold`` ``[B]``, and optionally ``weight`` ``[B]``, every model's training
    weight of each example (0 leaves it out of every model's loss). Metrics:
    ``loss_per_model`` (the mean over models) and
    ``accuracy`` (models' mean accuracy on the whole batch, in and out of fold).
  """
  if stack not in STACKS:
    raise MislabelError(f"stack must be one of {STACKS}, got {stack!r}")
  base = losses.classification_loss(apply_fn)

  def one(params, weight, key, audio, label):
    return base(params, {"audio": audio, "label": label, "weight": weight}, key)

  def loss_fn(params: Any, batch: dict[str, jax.Array], key: jax.Array):
    weight = batch["fold"][None, :] != jnp.arange(folds)[:, None]  # [K, B]
    weight = weight.astype(jnp.float32)
    if "weight" in batch:  # a static key: examples left out of every model
      weight = weight * batch["weight"][None, :]
    keys = jax.random.split(key, folds)
    audio, label = batch["audio"], batch["label"]
    if stack == "vmap":
      loss, metrics = jax.vmap(one, in_axes=(0, 0, 0, None, None))(
        params, weight, keys, audio, label
      )
    else:
      outs = [
        one(jax.tree.map(lambda p, k=k: p[k], params), weight[k], keys[k], audio, label)
        for k in range(folds)
      ]
      loss = jnp.stack([o[0] for o in outs])
      metrics = {"accuracy": jnp.stack([o[1]["accuracy"] for o in outs])}
    return jnp.sum(loss), {
      "loss_per_model": jnp.mean(loss),
      "accuracy": jnp.mean(metrics["accuracy"]),
    }

  return loss_fn


@dataclasses.dataclass(frozen=True)
class FoldModels:
  """K trained classifiers, model k trained on every fold but k.

  Attributes:
    model: the classifier (one model; ``params`` holds K of them).
    params: the K models' params stacked on axis 0 (the EMA where the config keeps
      one).
    fold: ``[n]`` the fold of every training example.
  """

  model: WaveformClassifier
  params: Any
  fold: np.ndarray

  @property
  def folds(self) -> int:
    return int(jax.tree.leaves(self.params)[0].shape[0])

  def member(self, k: int) -> Any:
    """The params of model ``k`` (usable with ``model.apply``)."""
    return jax.tree.map(lambda x: x[k], self.params)

  def out_of_fold_probs(
    self, audio: np.ndarray, batch_size: int, shifts: int = 1
  ) -> np.ndarray:
    """Softmax probabilities of every training example from its own fold's model.

    Args:
      audio: ``[n, samples]``, the examples the models were trained on, in order.
      batch_size: examples per forward pass.
      shifts: test-time augmentation: the mean of the softmax over ``shifts``
        circular time shifts of each clip, ``j * samples // shifts`` samples for
        ``j`` in ``range(shifts)`` (1: the clip as it is). Each shifted clip is
        still out of fold for its model, so the mean is too: a cheaper try at
        better probabilities than more models (only better probabilities can beat
        self-confidence under symmetric noise, :mod:`audiojax.anomaly.mislabels`;
        on the music set's CNNs, nearly shift-invariant already, it barely helps).

    Returns:
      ``pred_probs`` ``[n, num_classes]`` float64, rows summing to 1.
    """
    audio = np.asarray(audio, np.float32)
    if len(audio) != len(self.fold):
      raise MislabelError(
        f"{len(audio)} clips but the models were trained on {len(self.fold)}"
      )
    if not isinstance(shifts, numbers.Integral) or not 1 <= shifts <= audio.shape[1]:
      raise MislabelError(
        f"shifts must be an int in [1, {audio.shape[1]}] (the samples), got {shifts!r}"
      )
    probs_fn = jax.jit(
      lambda params, k, x: jax.nn.softmax(
        self.model.apply(jax.tree.map(lambda p: p[k], params), x), axis=-1
      )
    )
    probs = None
    for k in range(self.folds):
      idx = np.flatnonzero(self.fold == k)
      total = 0.0
      for j in range(shifts):
        clips = np.roll(audio[idx], j * audio.shape[1] // shifts, axis=1)
        rows, source = [], ArraySource({"audio": clips})
        for batch in pipeline.eval_batches(source, batch_size):
          p = probs_fn(self.params, k, batch["audio"])
          rows.append(np.asarray(p)[batch["mask"]])
        total = total + np.concatenate(rows).astype(np.float64)
      if probs is None:
        probs = np.empty((len(audio), total.shape[1]), np.float64)
      probs[idx] = total / shifts
    return probs / probs.sum(axis=1, keepdims=True)


def _fingerprint(
  audio, labels, fold, num_classes, sample_rate, weight=None
) -> dict[str, Any]:
  digest = hashlib.sha256()
  # A run without weights keeps the fingerprint it had before weights existed.
  for array in (audio, labels, fold) + (() if weight is None else (weight,)):
    digest.update(np.ascontiguousarray(array).tobytes())
  return {
    "num_examples": len(labels),
    "clip_samples": int(audio.shape[1]),
    "num_classes": int(num_classes),
    "sample_rate": int(sample_rate),
    "folds": int(fold.max()) + 1,
    "sha256": digest.hexdigest(),
  }


def _claim_workdir(workdir: str, record: dict[str, Any]) -> None:
  """Writes ``RUN_FILE``, or checks that a resumed run trains on the same data."""
  path = os.path.join(workdir, RUN_FILE)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if saved != record:
      raise MislabelError(
        f"{workdir} holds fold models of other data ({saved}, now {record}); "
        "use a fresh workdir for new audio, labels or folds"
      )
    return
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    json.dump(record, f, indent=2)


def train_fold_models(
  config: ml_collections.ConfigDict,
  audio: np.ndarray,
  labels: np.ndarray,
  *,
  num_classes: int,
  sample_rate: int,
  workdir: str,
  folds: int = 5,
  fold: np.ndarray | None = None,
  weight: np.ndarray | None = None,
  stack: str = "unroll",
) -> FoldModels:
  """Trains K classifiers of ``config`` at once, model k on every fold but k.

  One run of the shared loop in ``workdir`` (``metrics.jsonl``, ``checkpoints/``;
  rerunning resumes, and a finished run only restores): ``Task.init_params`` stacks
  K inits, each batch carries ``fold``, the loss is :func:`fold_loss` and the
  optimizer is the config's, :func:`per_model`. ``workdir/mislabels.json``
  fingerprints the audio, labels and folds; a workdir of other data is refused.

  Args:
    config: a ``classifier`` experiment config (``experiments/classifier.py``); read
      are ``frontend``, ``model``, ``optimizer``, ``batch_size``, ``seed``,
      ``num_devices`` and the loop fields (``total_steps``, ``log_every``, ...);
      ``dataset``, ``evals`` and ``adversarial`` are not.
    audio: ``[n, samples]`` float waveforms in [-1, 1].
    labels: ``[n]`` the given (possibly noisy) labels.
    num_classes: size of the label space.
    sample_rate: of ``audio``.
    workdir: the run directory.
    folds: ``K >= 2``.
    fold: ``[n]`` each example's fold in ``[0, folds)``; by default
      :func:`assign_folds` of ``labels`` with ``config.seed``.
    weight: ``[n]`` training weights in [0, 1]; 0 leaves an example out of every
      model's training (it still gets out-of-fold probabilities). None: all 1.
    stack: ``"unroll"`` or ``"vmap"``, as for :func:`fold_loss`.

  Returns:
    The trained :class:`FoldModels`.
  """
  labels = check_labels(labels, num_classes).astype(np.int32)
  audio = np.asarray(audio, np.float32)
  if audio.ndim != 2 or len(audio) != len(labels):
    raise MislabelError(
      f"audio must be [n, samples] with n = {len(labels)} labels, got {audio.shape}"
    )
  if fold is None:
    fold = assign_folds(labels, folds, config.seed)
  fold = np.asarray(fold, np.int32)
  if fold.shape != labels.shape or set(np.unique(fold)) != set(range(folds)):
    raise MislabelError(
      f"fold must be [{len(labels)}] with every id in [0, {folds}) used, got "
      f"shape {fold.shape} and ids {np.unique(fold).tolist()}"
    )
  columns = {"audio": audio, "label": labels, "fold": fold}
  if weight is not None:
    weight = np.asarray(weight, np.float32)
    if weight.shape != labels.shape or not np.all((weight >= 0) & (weight <= 1)):
      raise MislabelError(
        f"weight must be [{len(labels)}] in [0, 1], got shape {weight.shape}"
      )
    columns["weight"] = weight
  _claim_workdir(
    workdir, _fingerprint(audio, labels, fold, num_classes, sample_rate, weight)
  )

  model = build_classifier(config, num_classes, sample_rate)
  example = jnp.zeros((1, audio.shape[1]), jnp.float32)
  # Jitted: eager init compiles every initializer op by op (seconds each on CPU).
  init_one = lambda key: model.init(key, example)
  task = loop.Task(
    init_params=jax.jit(lambda key: jax.vmap(init_one)(jax.random.split(key, folds))),
    loss_fn=fold_loss(model.apply, folds, stack),
    train_data=pipeline.TrainIterator(
      ArraySource(columns),
      config.batch_size,
      seed=config.seed,
    ),
  )
  tx, schedule = optim.make_optimizer(config)
  state, _ = loop.train(
    task,
    per_model(tx),
    loop.LoopConfig.from_config(config),
    workdir,
    mesh=pipeline.make_mesh(config.num_devices),
    schedule=schedule,
  )
  params = optim.eval_params(config, state.params, state.opt_state)
  return FoldModels(model=model, params=params, fold=fold)


def out_of_fold_probs(
  config: ml_collections.ConfigDict,
  audio: np.ndarray,
  labels: np.ndarray,
  *,
  num_classes: int,
  sample_rate: int,
  workdir: str,
  folds: int = 5,
  fold: np.ndarray | None = None,
  weight: np.ndarray | None = None,
  stack: str = "unroll",
  shifts: int = 1,
) -> np.ndarray:
  """Out-of-fold class probabilities: row i from a model that never saw label i.

  :func:`train_fold_models` (same arguments), then each model predicts its own fold
  in inference mode, averaged over ``shifts`` circular time shifts
  (:meth:`FoldModels.out_of_fold_probs`); the result is also saved as
  ``workdir/pred_probs.npy`` (``pred_probs_shifts{shifts}.npy`` for ``shifts > 1``).

  Returns:
    ``pred_probs`` ``[n, num_classes]`` float64, rows summing to 1.
  """
  models = train_fold_models(
    config,
    audio,
    labels,
    num_classes=num_classes,
    sample_rate=sample_rate,
    workdir=workdir,
    folds=folds,
    fold=fold,
    weight=weight,
    stack=stack,
  )
  probs = models.out_of_fold_probs(audio, config.batch_size, shifts)
  name = "pred_probs.npy" if shifts == 1 else f"pred_probs_shifts{shifts}.npy"
  np.save(os.path.join(workdir, name), probs)
  return probs
