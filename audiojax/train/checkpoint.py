"""Orbax checkpoints of a run: the state's arrays plus a JSON record (data position).

A save is atomic (orbax writes to a temporary directory and renames it), so a process
killed mid-save leaves the previous checkpoint as the latest one. Where a run starts
from is written down once, in :func:`resume_source` (big_vision's order): this run's
own checkpoint, else ``config.resume`` (another run's checkpoint: full state), else
``config.model_init`` (another run's params only), else scratch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from audiojax import distributed


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unreadable, or does not fit the run restoring it."""


class Checkpointer:
  """Saves and restores ``(tree, extra)`` pairs by step under ``directory``.

  Args:
    directory: where the step folders live (created if missing).
    max_to_keep: how many of the newest checkpoints to keep.
  """

  def __init__(self, directory: str, *, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
      self.directory,
      options=ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        create=True,
        # Synchronous: the next jitted step donates the state's buffers, which an
        # asynchronous save could still be reading on CPU.
        enable_async_checkpointing=False,
      ),
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, tree: Any, extra: Mapping[str, Any]) -> None:
    """Saves ``tree`` and the JSON record ``extra`` as checkpoint ``step``."""
    self._manager.save(
      int(step),
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(tree), extra=ocp.args.JsonSave(dict(extra))
      ),
    )

  def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict]:
    """Restores the tree shaped (and sharded) like ``template``, and the JSON record."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), extra=ocp.args.JsonRestore()
        ),
      )
    except (ValueError, KeyError, FileNotFoundError) as e:
      raise CheckpointError(
        f"checkpoint {self.directory} step {step} does not fit this run: {e}"
      ) from e
    return restored["state"], dict(restored["extra"])

  def restore_params(self, template_params: Any, step: int | None = None) -> Any:
    """Restores only ``params`` of a saved state (for ``model_init``)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    restored = self._manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore())
    )
    saved = restored["state"]["params"]
    if jax.tree.structure(saved) != jax.tree.structure(template_params):
      raise CheckpointError(
        f"params in {self.directory} have another structure than this model's"
      )
    return jax.tree.map(
      lambda s, t: jax.device_put(s.astype(t.dtype), t.sharding), saved, template_params
    )

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def resume_source(
  workdir: str, resume: str | None, model_init: str | None
) -> tuple[str, str | None]:
  """Where a run starts from: ``("workdir"|"resume"|"model_init"|"scratch", path)``
  (the primary process's answer, in a multi-process run)."""
  return tuple(
    distributed.from_primary(lambda: _resume_source(workdir, resume, model_init))
  )


def finished_steps(directory: str) -> list[int]:
  """The steps saved under ``directory``, oldest first, read from its listing.

  Orbax writes a step to a temporary folder and renames it to the bare number, so
  the numbered folders are the finished saves. Unlike opening a
  ``CheckpointManager`` this is no collective, so one process may ask alone.
  """
  try:
    names = os.listdir(directory)
  except FileNotFoundError:
    return []
  return sorted(int(n) for n in names if n.isdigit())


def _resume_source(workdir, resume, model_init):
  own = os.path.join(workdir, "checkpoints")
  if finished_steps(own):
    return "workdir", own
  if resume:
    return "resume", resume
  if model_init:
    return "model_init", model_init
  logging.info("no checkpoint to resume from; starting from scratch")
  return "scratch", None
