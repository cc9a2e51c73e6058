"""The training loop: resume, step, log, evaluate, checkpoint; nothing task-specific.

A :class:`Task` says what is optimized (``init_params``, ``loss_fn``), on which data
(a :class:`~audiojax.data.pipeline.TrainIterator`) and how it is judged (evaluators with
``run(params) -> dict``). The loop owns the rest, in one order that makes a resumed run
bit-identical to an uninterrupted one: metrics of a step are written before the
checkpoint of that step, and on resume the metric log is cut back to the restored step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from tqdm import tqdm

from audiojax import distributed
from audiojax.data import pipeline
from audiojax.train import checkpoint as ckpt_lib
from audiojax.train.state import LossFn, TrainState
from audiojax.train.steps import train_step
from audiojax.train.writer import MetricWriter


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or infinite."""


class Evaluator(Protocol):
  name: str

  def run(self, params: Any) -> Mapping[str, float]: ...


@dataclasses.dataclass(frozen=True)
class Task:
  """What one training run optimizes.

  Attributes:
    init_params: ``key -> params``.
    loss_fn: ``(params, batch, key) -> (loss, metrics)``, one object for the whole run.
    train_data: the training batches (its position is checkpointed).
    evaluators: run every ``eval_every`` steps and at the end.
    eval_params: ``state -> params`` the evaluators judge (e.g. the EMA).
  """

  init_params: Callable[[jax.Array], Any]
  loss_fn: LossFn
  train_data: pipeline.TrainIterator
  evaluators: Sequence[Evaluator] = ()
  eval_params: Callable[[TrainState], Any] = lambda state: state.params


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  total_steps: int
  log_every: int = 50
  eval_every: int = 0  # 0: only at the end.
  checkpoint_every: int = 0  # 0: only at the end.
  max_to_keep: int = 2
  seed: int = 0
  resume: str | None = None
  model_init: str | None = None
  progress: bool = True

  def __post_init__(self):
    if self.total_steps <= 0 or self.log_every <= 0:
      raise ValueError(f"total_steps and log_every must be positive: {self}")
    # Train metrics average over log windows; a resumed run must restart on a window
    # boundary to write the same numbers, so checkpoints fall on window ends.
    for name in ("eval_every", "checkpoint_every"):
      every = getattr(self, name)
      if every < 0 or every % self.log_every:
        raise ValueError(
          f"{name}={every} must be a non-negative multiple of "
          f"log_every={self.log_every}"
        )

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> LoopConfig:
    """The loop fields of an experiment config (each declared in its file)."""
    return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls)})


def _first_nonfinite(losses: list[jax.Array]) -> int | None:
  values = np.asarray(jax.device_get(jnp.stack(losses)))
  bad = np.flatnonzero(~np.isfinite(values))
  return int(bad[0]) if bad.size else None


def _log_window(
  losses, metrics, first_step: int, writer: MetricWriter, step: int, lr: float | None
) -> None:
  bad = _first_nonfinite(losses)
  if bad is not None:
    raise NonFiniteLossError(f"loss is not finite at step {first_step + bad + 1}")
  means = jax.device_get(jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *metrics))
  record = {f"train/{k}": float(v) for k, v in means.items()}
  if lr is not None:
    record["train/learning_rate"] = lr
  writer.write(step, record)


def _evaluate(
  evaluators: Sequence[Evaluator], params: Any, writer: MetricWriter | None, step: int
) -> dict[str, dict[str, Any]]:
  results = {}
  for ev in evaluators:
    out = dict(ev.run(params))
    results[ev.name] = out
    if writer is not None:
      writer.write(
        step,
        {
          f"{ev.name}/{k}": v
          for k, v in out.items()
          if isinstance(v, int | float) and math.isfinite(v)
        },
      )
  return results


def train(
  task: Task,
  tx: optax.GradientTransformation,
  config: LoopConfig,
  workdir: str,
  *,
  mesh: jax.sharding.Mesh | None = None,
  schedule: optax.Schedule | None = None,
  on_step: Callable[[int, int], None] | None = None,
) -> tuple[TrainState, dict[str, dict[str, Any]]]:
  """Trains ``task`` for ``config.total_steps`` steps, resuming from ``workdir``.

  Args:
    task: model, loss, data and evaluators.
    tx: the optimizer.
    config: step counts, seed and where to resume from.
    workdir: the run directory (``checkpoints/``, ``metrics.jsonl``, ``tb/``).
    mesh: devices to run on (default: all, data parallel).
    schedule: the learning-rate schedule, only to log it.
    on_step: ``(step, total_steps)`` after every step and once at the start (a
      progress report for a server waiting on this run).

  Returns:
    The final state and the final evaluators' results ``{name: {metric: value}}``.

  Raises:
    NonFiniteLossError: naming the first step whose loss was not finite.
  """
  mesh = mesh or pipeline.make_mesh()
  init_key, train_key = jax.random.split(jax.random.key(config.seed))
  params = pipeline.replicate(task.init_params(init_key), mesh)
  state = pipeline.replicate(TrainState.create(params, tx, train_key), mesh)

  writer = MetricWriter(workdir)
  source, path = ckpt_lib.resume_source(workdir, config.resume, config.model_init)
  checkpointer = ckpt_lib.Checkpointer(
    f"{workdir}/checkpoints", max_to_keep=config.max_to_keep
  )
  data = task.train_data
  if source in ("workdir", "resume"):
    from_ckpt = checkpointer if source == "workdir" else ckpt_lib.Checkpointer(path)
    tree, extra = from_ckpt.restore(state.checkpoint_tree())
    state = state.from_checkpoint_tree(tree)
    data.set_state(extra["data"])
    logging.info("resumed from %s (%s) at step %d", path, source, int(state.step))
  elif source == "model_init":
    state = TrainState.create(
      ckpt_lib.Checkpointer(path).restore_params(params), tx, train_key
    )
    state = pipeline.replicate(state, mesh)
    logging.info("initialised params from %s", path)
  start = int(state.step)
  writer.truncate_after(start)

  if on_step is not None:
    on_step(start, config.total_steps)
  losses, metrics = [], []
  window_start = start
  progress = tqdm(
    total=config.total_steps,
    initial=start,
    disable=not (config.progress and distributed.is_primary()),
    desc="train",
    unit="step",
  )
  try:
    for step in range(start + 1, config.total_steps + 1):
      batch = pipeline.next_global_batch(data, mesh)
      state, m = train_step(state, batch, task.loss_fn)
      losses.append(m["loss"])
      metrics.append(m)
      progress.update(1)
      if on_step is not None:
        on_step(step, config.total_steps)
      last = step == config.total_steps
      if step % config.log_every == 0 or last:
        lr = float(schedule(step - 1)) if schedule is not None else None
        _log_window(losses, metrics, window_start, writer, step, lr)
        progress.set_postfix(loss=f"{float(jnp.mean(jnp.stack(losses))):.4f}")
        losses, metrics, window_start = [], [], step
      if last or (config.eval_every and step % config.eval_every == 0):
        final = _evaluate(task.evaluators, task.eval_params(state), writer, step)
      if last or (config.checkpoint_every and step % config.checkpoint_every == 0):
        checkpointer.save(step, state.checkpoint_tree(), {"data": data.get_state()})
    if start >= config.total_steps:
      # A finished run asked again: its final metrics are on file already.
      final = _evaluate(task.evaluators, task.eval_params(state), None, start)
  finally:
    progress.close()
    checkpointer.close()
    writer.close()
  return state, final
