"""Metric writers: JSON lines per (step, metrics) in ``metrics.jsonl``; TensorBoard.

``metrics.jsonl`` is the record a run is judged by; it is flushed on every write so a
crash loses nothing already written, and on resume it is cut back to the restored step
so that a resumed run's file equals an uninterrupted run's, line for line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

from absl import logging

from audiojax import distributed


class MetricWriter:
  """Appends scalar metrics to ``DIR/metrics.jsonl`` and a TensorBoard log ``DIR/tb``.

  In a multi-process run only the primary process writes; the others' writers do
  nothing, so every record is written once.

  Args:
    workdir: the run directory.
    tensorboard: also write TensorBoard event files (tensorboardX, no TensorFlow).
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.enabled = distributed.is_primary()
    self._tb = None
    if tensorboard and self.enabled:
      from tensorboardX import SummaryWriter  # Heavy import; only when wanted.

      self._tb = SummaryWriter(os.path.join(workdir, "tb"), flush_secs=30)

  def truncate_after(self, step: int) -> None:
    """Drops records written after ``step`` (by a run that was cut short)."""
    if not self.enabled or not os.path.exists(self.path):
      return
    with open(self.path) as f:
      lines = f.readlines()
    kept = []
    for line in lines:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:  # A line torn by a crash mid-write.
        break
      if record["step"] > step:
        break
      kept.append(line)
    if len(kept) != len(lines):
      logging.info(
        "metrics.jsonl: dropping %d records after step %d", len(lines) - len(kept), step
      )
      tmp = self.path + ".tmp"
      with open(tmp, "w") as f:
        f.writelines(kept)
      os.replace(tmp, self.path)

  def write(self, step: int, metrics: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    record = {"step": int(step)}
    for name, value in sorted(metrics.items()):
      record[name] = float(value)
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
      f.flush()
      os.fsync(f.fileno())
    if self._tb is not None:
      for name, value in record.items():
        if name != "step" and math.isfinite(value):
          self._tb.add_scalar(name, value, step)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str) -> list[dict[str, float]]:
  """All records of ``DIR/metrics.jsonl``."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]
