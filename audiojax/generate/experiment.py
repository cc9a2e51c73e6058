"""The ``music_generator`` experiment: train the spectrogram generator, measure it.

1. A probe classifier (a ``classifier`` run on instrument family, real clips) is
   trained as its own resumable sub-run in ``WORKDIR/probe`` (or, with
   ``config.probe_workdir``, another run's finished probe is used).
2. The generator is trained (or resumed) in ``WORKDIR``
   (:mod:`audiojax.generate.train`).
3. Its EMA params are judged by ``config.evals`` (the ``generation`` evaluator: probe
   accuracy, Fréchet distance, onsets, continuity, speed); real vs generated
   spectrograms and example WAVs are written beside the results.

A finished run is loaded with :func:`audiojax.train.restore` (a
:class:`~audiojax.generate.generator.GeneratorRun` that samples without the data).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from audiojax import audio as audio_lib
from audiojax import evaluators, experiment
from audiojax.generate import figures
from audiojax.generate import train as gen_train
from audiojax.train import optim


def _probe_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  probe = ml_collections.ConfigDict(config.probe.to_dict())
  probe.dataset = ml_collections.ConfigDict(config.dataset.to_dict())
  probe.dataset.in_memory = True  # The probe reads only audio and labels.
  probe.seed = config.seed
  return probe


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains and evaluates the generator; returns the numbers of ``results.json``."""
  if config.get("probe_workdir"):  # e.g. a retrained generator reuses the original's
    with open(os.path.join(config.probe_workdir, "results.json")) as f:
      probe_results = json.load(f)
  else:
    probe_results = experiment.run(
      _probe_config(config), os.path.join(workdir, "probe")
    )
  start = time.perf_counter()
  generator, state, train_examples = gen_train.train(config, workdir)
  train_seconds = time.perf_counter() - start
  params = optim.eval_params(config, state.params, state.opt_state)
  context = evaluators.Context(generator, config.dataset, config.seed, workdir)
  results: dict[str, Any] = {
    "objective": config.objective,
    "generator": config.generator.name,
    "num_params": sum(x.size for x in jax.tree.leaves(params)),
    "train_steps": int(state.step),
    "train_examples": train_examples,
    "train_seconds_this_invocation": round(train_seconds, 1),
    "sampling_steps": config.sampling.steps,
    "guidance": config.sampling.guidance,
  }
  evals = ml_collections.ConfigDict(config.evals.to_dict())
  for entry in evals.values():
    if entry.get("type") == "generation" and config.get("probe_workdir"):
      entry.probe = os.path.abspath(config.probe_workdir)
  for ev in evaluators.build(evals, context):
    for key, value in ev.run(params).items():
      results[key if ev.name == config.report_eval else f"{ev.name}_{key}"] = value
    if ev.name == config.report_eval:
      _write_examples(config, workdir, generator, ev.last)
  results["probe_test_accuracy"] = probe_results["test_accuracy"]
  logging.info(
    "generator metrics: %s", {k: v for k, v in results.items() if isinstance(v, float)}
  )
  return results


def _write_examples(config, workdir, generator, last: dict[str, np.ndarray]) -> None:
  """``spectrograms.png`` (real vs generated per family) and ``samples/*.wav``."""
  names, family = generator.family_names, last["family"]
  figures.real_vs_generated_png(
    os.path.join(workdir, "spectrograms.png"),
    last["real_images"],
    last["images"],
    family,
    names,
  )
  directory = os.path.join(workdir, "samples")
  os.makedirs(directory, exist_ok=True)
  sr = generator.spec.sample_rate
  for f, name in enumerate(names):
    picks = np.flatnonzero(family == f)[: config.wavs_per_condition]
    for j, i in enumerate(picks):
      audio_lib.save(os.path.join(directory, f"{name}_{j}.wav"), last["audio"][i], sr)
