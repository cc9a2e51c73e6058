"""Load any trained run: ``restore(workdir)`` -> config, model, params, step.

Every later system starts from a trained model: attacks from a classifier, unlearning
from a classifier or the generator, the rating GA from the generator. A run directory
holds what it takes: ``config.json`` (the experiment config), ``model.json`` (what
the model was built from that the config does not say: the number of classes, the
caption vocabulary's size, ...) and orbax checkpoints. :func:`restore` builds the
model the config describes, shapes the checkpoint's template with ``jax.eval_shape``
(no data is read and no params are initialised) and restores into it; ``.params`` are
the EMA params where the run kept an average (what it was evaluated with).

  run = train.restore("runs/clf")
  logits = run.model.apply(run.params, audio)          # a classifier run
  gen = train.restore("runs/gen")
  images = gen.sample(gen.conditions_of(family="piano"), key)   # a generator run

The model builders are listed per experiment kind in ``RESTORABLE`` (lazily).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections

from audiojax import distributed
from audiojax.registry import Registry
from audiojax.train import optim
from audiojax.train.checkpoint import Checkpointer, CheckpointError
from audiojax.train.state import TrainState

MODEL_INFO = "model.json"

# kind -> ``fn(config, info) -> (model, init_params)``, or ``(model, init_params,
# finish)`` where ``finish(run) -> run`` adds what that kind needs (e.g. sampling).
RESTORABLE: Registry = Registry(
  "restorable experiment kind",
  {
    "classifier": "audiojax.models.classifier:restorable",
    "music_generator": "audiojax.generate.generator:restorable",
    "transcriber": "audiojax.transcription.model:restorable",
  },
)


@dataclasses.dataclass(frozen=True)
class Run:
  """A trained run, restored.

  Attributes:
    config: the run's ``config.json``.
    model: the model it trained (a flax module; ``model.apply(params, ...)``).
    params: its params (the EMA where the run kept one).
    step: the optimizer step of the checkpoint.
    info: its ``model.json``.
    workdir: where it lives.
  """

  config: ml_collections.ConfigDict
  model: Any
  params: Any
  step: int
  info: dict[str, Any]
  workdir: str


def write_model_info(workdir: str, info: dict[str, Any]) -> None:
  """Saves ``model.json`` (atomically): what :func:`restore` needs beyond the config."""
  if not distributed.is_primary():
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, MODEL_INFO)
  with open(path + ".tmp", "w") as f:
    json.dump(info, f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def _read_json(workdir: str, name: str) -> dict[str, Any]:
  path = os.path.join(workdir, name)
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    raise CheckpointError(f"{workdir} is not a trained run: it has no {name}") from None
  except json.JSONDecodeError as e:
    raise CheckpointError(f"{path} is not valid JSON: {e}") from e


def restore(workdir: str, *, step: int | None = None) -> Run:
  """Restores the run in ``workdir`` (its latest checkpoint, or ``step``).

  Raises:
    CheckpointError: if ``workdir`` holds no finished or checkpointed run, or its
      checkpoint does not fit the model its config describes.
    UnknownNameError: for a run of a kind that has no model to restore.
  """
  config = ml_collections.ConfigDict(_read_json(workdir, "config.json"))
  info = _read_json(workdir, MODEL_INFO)
  built = RESTORABLE.get(config.kind)(config, info)
  model, init_params = built[:2]
  finish = built[2] if len(built) > 2 else None
  tx, _ = optim.make_optimizer(config)
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def template():
    key = jax.random.key(0)
    return TrainState.create(init_params(key), tx, key).checkpoint_tree()

  abstract = jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
    jax.eval_shape(template),
  )
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise CheckpointError(f"{workdir} has no checkpoints/ to restore")
  checkpointer = Checkpointer(directory)
  try:
    tree, _ = checkpointer.restore(abstract, step)
  finally:
    checkpointer.close()
  params = optim.eval_params(config, tree["params"], tree["opt_state"])
  run = Run(config, model, params, int(tree["step"]), info, os.path.abspath(workdir))
  return finish(run) if finish is not None else run


def train_or_restore(config: ml_collections.ConfigDict, workdir: str) -> Run:
  """The finished run of ``config`` in ``workdir``, trained first if unfinished.

  A run is finished when its runner wrote ``results.json``; until then
  ``audiojax.experiment.run`` trains (resuming from the workdir's checkpoint).
  """
  if not os.path.exists(os.path.join(workdir, "results.json")):
    from audiojax import experiment  # the dispatcher imports the runners lazily

    experiment.run(config, workdir)
  return restore(workdir)
