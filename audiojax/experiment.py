"""Runs one experiment config in a run directory: the library side of ``launch/run.py``.

Each config has a ``kind``, a name in ``RUNNERS``; the runner module it names (imported
only when that kind runs) has ``run(config, workdir) -> results``, whose numbers go to
``results.json`` / ``results.md``. Rerunning with the same directory resumes from its
checkpoints. To add a kind: a runner module with ``run``, listed below.
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections
from absl import logging

from audiojax import distributed
from audiojax.registry import Registry
from audiojax.train import report

RUNNERS: Registry = Registry(
  "experiment kind",
  {
    "classifier": "audiojax.classification.experiment:run",
    "music_generator": "audiojax.generate.experiment:run",
    "human_ga": "audiojax.evolve.experiment:run",
    "attacks": "audiojax.robustness.experiment:run",
    "transcriber": "audiojax.transcription.experiment:run",
    "anomaly": "audiojax.anomaly.experiment:run",
    "ecg_unlearning": "audiojax.unlearning.ecg_experiment:run",
    "unlearning": "audiojax.unlearning.experiment:run",
    "music_unlearning": "audiojax.unlearning.music_experiment:run",
    "unlearnable": "audiojax.unlearnable.experiment:run",
  },
)


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes ``config.json``; warns when it differs from the run's first one."""
  os.makedirs(workdir, exist_ok=True)
  if not distributed.is_primary():
    return
  path = os.path.join(workdir, "config.json")
  text = config.to_json_best_effort(indent=2, sort_keys=True) + "\n"
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
    if old != text:
      logging.warning(
        "config differs from the one this workdir started with; "
        "the previous one is kept as config.previous.json"
      )
      os.replace(path, os.path.join(workdir, "config.previous.json"))
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs ``config`` in ``workdir`` and writes ``results.json`` and ``results.md``."""
  runner = RUNNERS.get(config.kind)
  os.makedirs(workdir, exist_ok=True)
  save_config(config, workdir)
  results = runner(config, workdir)
  report.write_results(workdir, results, title=config.name)
  distributed.barrier(f"results of {workdir}")  # Written before anyone reads them.
  logging.info(
    "results: %s",
    json.dumps({k: v for k, v in results.items() if isinstance(v, int | float | str)}),
  )
  return results
