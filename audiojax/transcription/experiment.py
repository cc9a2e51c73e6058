"""The ``transcriber`` experiment: train a frame-level transcriber, evaluate, report.

The config names a data set whose examples carry ``notes`` (``audiojax_music``), a
framing front end with an explicit ``hop_length`` (``mel``), a per-frame backbone
(``mel_transcriber*`` of ``audiojax.models.MODELS``) and its evaluators (type
``transcription``: note F1 onset-only and with offsets, frame F1). Training is the
shared loop with the per-frame BCE of :func:`~audiojax.transcription.model.
transcription_loss`. A finished run is loaded with :func:`audiojax.train.restore`.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import ml_collections

from audiojax import evaluators
from audiojax.data import pipeline
from audiojax.train import loop, optim, runs
from audiojax.transcription import data as tdata
from audiojax.transcription import model as model_lib


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains and evaluates a transcriber (resuming from ``workdir``).

  Returns:
    The numbers of ``results.json``: ``{eval}_{metric}`` for every evaluator, and
    what was trained on what.
  """
  mesh = pipeline.make_mesh(config.num_devices)
  audio_split = tdata.load_audio_split(config.dataset, "train")
  grid = model_lib.frame_grid(config, audio_split.sample_rate, audio_split.clip_samples)
  info = model_lib.model_info(grid)
  runs.write_model_info(workdir, info)
  model, init_params = model_lib.restorable(config, info)
  train_split = tdata.read_split(audio_split, grid)
  context = evaluators.Context(model, config.dataset, config.seed, workdir, mesh)
  task = loop.Task(
    init_params=init_params,
    loss_fn=model_lib.transcription_loss(model.apply),
    train_data=pipeline.TrainIterator(
      train_split.source, config.batch_size, seed=config.seed
    ),
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
    "dataset_config": config.dataset.config,
    "frontend": config.frontend.name,
    "model": config.model.name,
    "steps": int(state.step),
    "train_examples": len(train_split),
    "num_params": sum(x.size for x in jax.tree.leaves(state.params)),
    "frames": grid.num_frames,
    "frame_rate": grid.frame_rate,
    "pitches": f"MIDI {grid.min_pitch}..{grid.min_pitch + grid.num_pitches - 1}",
    "wall_seconds_this_invocation": round(seconds, 1),
  }
  for name, metrics in final.items():
    for key, value in metrics.items():
      results[f"{name}_{key}"] = value
  return results
