"""The ``music_unlearning`` experiment: opt-out from the trained music generator.

A rights holder asks that a collection (``--config.forget=collection:palestrina``)
or some pieces (``pieces:ID,ID``) be removed from the conditional spectrogram
generator (:mod:`audiojax.generate`). The forget set is their training clips, the
retain set the rest (:class:`audiojax.generate.data.OptOut`).

1. **Original**: a finished ``music_generator`` run (``config.generator_workdir``),
   restored with :func:`audiojax.train.restore`, or one trained in
   ``WORKDIR/original`` from ``config.generator``.
2. **Probes**: the original run's family probe, and a classifier of collection
   trained on real clips in ``WORKDIR/collection_probe``.
3. **Retrain** (the gold standard): the original recipe (steps, schedule, EMA)
   from scratch without the forget clips, a ``music_generator`` run in
   ``WORKDIR/retrain`` with ``exclude`` set; its wall time is what the others are
   timed against.
4. **Methods**: each entry of ``config.methods`` runs
   :func:`audiojax.unlearning.unlearn` on the original EMA params with the
   generator's denoising task (:func:`audiojax.unlearning.denoising_task`).
5. Every model is judged by the evaluators of ``config.evals`` (the ``opt_out``
   evaluator: forget fidelity, membership, retain quality); rows are cached in
   ``WORKDIR/rows/NAME.json``, so a rerun resumes method by method.

``results.json``: ``methods`` (a row per model with the ``original`` and
``retrain`` rows), ``forget``, ``best`` (the method closest to retrain that
keeps retain quality, and whether it meets the bar) and ``sizes``. The run dir
holds ``methods.md``, ``spectrograms/NAME.png`` (real forget clips beside clips
generated from their conditions) and ``samples/NAME_*.wav``.
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
from audiojax import evaluators, unlearning
from audiojax.generate import data as gen_data
from audiojax.generate import figures
from audiojax.train import report, runs
from audiojax.train.checkpoint import CheckpointError
from audiojax.unlearning import tables

COLUMNS = (
  ("forget_collection_accuracy", "forget coll. acc"),
  ("unlearning_accuracy", "UA"),
  ("forget_frechet", "forget Fréchet"),
  ("membership_auc", "MIA AUC"),
  ("retain_frechet", "retain Fréchet"),
  ("retain_family_accuracy", "retain family acc"),
  ("retain_collection_accuracy", "retain coll. acc"),
  ("seconds", "seconds"),
  ("seconds_vs_retrain", "× retrain time"),
)


def _read(path: str) -> dict[str, Any] | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _write(path: str, value: Any) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def original_run(config: ml_collections.ConfigDict, workdir: str):
  """The generator to unlearn from: ``config.generator_workdir`` or trained here."""
  if config.generator_workdir:
    if not os.path.exists(os.path.join(config.generator_workdir, "results.json")):
      raise CheckpointError(
        f"{config.generator_workdir} holds no finished music_generator run; train "
        "one with python -m launch.run --config=experiments/music_generator.py"
        ":runlocal --workdir=DIR, or leave generator_workdir empty"
      )
    return runs.restore(config.generator_workdir)
  generator = ml_collections.ConfigDict(config.generator.to_dict())
  generator.seed = config.seed
  return runs.train_or_restore(generator, os.path.join(workdir, "original"))


def retrained_run(config, original, workdir: str) -> tuple[Any, float | None]:
  """The original recipe without the forget clips, and its training seconds (None
  when it was trained over several invocations)."""
  path = os.path.join(workdir, "retrain")
  timing = os.path.join(workdir, "retrain_seconds.json")
  fresh = not os.path.exists(os.path.join(path, "checkpoints"))
  retrain = ml_collections.ConfigDict(original.config.to_dict())
  retrain.exclude = config.forget
  retrain.probe_workdir = os.path.join(original.workdir, "probe")
  retrain.progress = False
  start = time.perf_counter()
  run = runs.train_or_restore(retrain, path)
  if fresh:
    _write(timing, {"seconds": round(time.perf_counter() - start, 1)})
  saved = _read(timing)
  return run, (saved or {}).get("seconds")


def collection_probe(config, original, workdir: str) -> str:
  """The collection classifier's run: ``config.collection_probe_workdir`` (another
  opt-out study's) or trained in ``WORKDIR/collection_probe``."""
  if config.get("collection_probe_workdir"):
    runs.restore(config.collection_probe_workdir)  # a typed error if it is not one
    return os.path.abspath(config.collection_probe_workdir)
  probe = ml_collections.ConfigDict(config.collection_probe.to_dict())
  probe.dataset = ml_collections.ConfigDict(original.config.dataset.to_dict())
  probe.dataset.label = "collection"
  probe.dataset.in_memory = True
  probe.seed = config.seed
  path = os.path.abspath(os.path.join(workdir, "collection_probe"))
  runs.train_or_restore(probe, path)
  return path


def sets(original, request: gen_data.OptOut) -> tuple[dict, dict]:
  """The retain and forget sets of the training split, as arrays."""
  g = original.model
  train, _ = gen_data.load_split(
    original.config.dataset, "train", g.spec, g.vocab, g.caption_length
  )
  covered = request.check(train)
  arrays = train.source.arrays
  fields = ("image", "family", "collection", "tokens")
  retain = {k: arrays[k][~covered] for k in fields}
  forget = {k: arrays[k][covered] for k in fields}
  return retain, forget


def _examples(workdir: str, name: str, ev, sample_rate: int, wavs: int) -> None:
  last = ev.last
  if not last:
    return
  n = len(last["forget_images"])
  os.makedirs(os.path.join(workdir, "spectrograms"), exist_ok=True)
  figures.real_vs_generated_png(
    os.path.join(workdir, "spectrograms", f"{name}.png"),
    last["forget_real_images"],
    last["forget_images"],
    np.zeros(n, np.int64),
    ["forget clips: real | generated from their conditions"],
  )
  directory = os.path.join(workdir, "samples")
  os.makedirs(directory, exist_ok=True)
  for i in range(min(wavs, n)):
    audio_lib.save(
      os.path.join(directory, f"{name}_forget_{i}.wav"),
      last["forget_audio"][i],
      sample_rate,
    )


def _signature(config, **more) -> dict[str, Any]:
  """What a cached row was computed under: a row of another setting is recomputed."""
  return {"forget": config.forget, "evals": config.evals.to_dict(), **more}


def cached_row(workdir: str, name: str, signature: dict[str, Any]):
  row = _read(os.path.join(workdir, "rows", f"{name}.json"))
  if row is None or row.get("signature") != json.loads(json.dumps(signature)):
    return None
  return row


def judge(
  name, params, ev, workdir, config, sample_rate, extra, signature
) -> dict[str, Any]:
  """The evaluators' row of one model, cached in ``rows/NAME.json``."""
  cached = cached_row(workdir, name, signature)
  if cached is not None:
    return cached
  path = os.path.join(workdir, "rows", f"{name}.json")
  row = {**ev.run(params), **extra, "signature": signature}
  _examples(workdir, name, ev, sample_rate, config.wavs)
  _write(path, row)
  logging.info("music unlearning %s: %s", name, row)
  return row


def best_method(table: dict[str, dict[str, Any]], tolerance: float, quality: float):
  """The method closest to retrain in forgetting (collection accuracy and MIA AUC)
  among those whose retain Fréchet is within ``quality`` of the original's; whether
  it meets the bar (both within ``tolerance`` of retrain)."""
  if "retrain" not in table:
    return None
  gold, base = table["retrain"], table["original"]
  out = []
  for name, row in table.items():
    if name in ("original", "retrain"):
      continue
    gap = max(
      abs(row["forget_collection_accuracy"] - gold["forget_collection_accuracy"]),
      abs(row["membership_auc"] - gold["membership_auc"]),
    )
    drift = row["retain_frechet"] / base["retain_frechet"] - 1.0
    out.append((drift > quality, gap, name, drift))
  if not out:
    return None
  bad, gap, name, drift = min(out)
  return {
    "method": name,
    "forgetting_gap": gap,
    "retain_frechet_change": drift,
    "meets": bool(gap <= tolerance and drift <= quality),
  }


def render(results: dict[str, Any]) -> str:
  table = results["methods"]
  order = tables._order(table)
  lines = [
    f"# Opt-out from the music generator: {results['forget']}",
    "",
    f"forget clips {results['sizes']['forget']}, retain clips "
    f"{results['sizes']['retain']}, held-out clips of the same collections "
    f"{table[order[0]]['heldout_clips']}",
    "",
  ]
  lines += report.rows_table(
    ["model", *(title for _, title in COLUMNS)],
    [[n, *(table[n].get(c) for c, _ in COLUMNS)] for n in order],
  )
  best = results.get("best")
  if best:
    lines += [
      "",
      f"Closest to retrain while keeping quality: **{best['method']}** (forgetting "
      f"gap {best['forgetting_gap']:.3f}, retain Fréchet "
      f"{best['retain_frechet_change']:+.1%}); meets the bar (gap ≤ "
      f"{results['tolerance']}, Fréchet ≤ +{results['quality']:.0%}): "
      f"{'yes' if best['meets'] else 'no'}",
    ]
  return "\n".join(lines) + "\n"


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  request = gen_data.OptOut.parse(config.forget)
  original = original_run(config, workdir)
  gen = original.model
  probe = collection_probe(config, original, workdir)
  retain, forget = sets(original, request)
  context = evaluators.Context(gen, original.config.dataset, config.seed, workdir)
  evals = ml_collections.ConfigDict(config.evals.to_dict())
  for entry in evals.values():
    entry.forget = str(request)
    entry.family_probe = os.path.join(original.workdir, "probe")
    entry.collection_probe = probe
  (ev,) = evaluators.build(evals, context)
  sr = gen.spec.sample_rate
  table: dict[str, dict[str, Any]] = {}
  table["original"] = judge(
    "original", original.params, ev, workdir, config, sr, {}, _signature(config)
  )
  retrain_seconds = None
  if config.retrain:
    retrained, retrain_seconds = retrained_run(config, original, workdir)
    table["retrain"] = judge(
      "retrain",
      retrained.params,
      ev,
      workdir,
      config,
      sr,
      {"seconds": retrain_seconds},
      _signature(config),
    )
  task = unlearning.denoising_task(gen.objective, original.config.t_schedule)
  for name, entry in config.methods.items():
    options = entry.to_dict()
    method = options.pop("method", name)
    signature = _signature(config, method=method, options=options)
    cached = cached_row(workdir, name, signature)
    if cached is not None:
      table[name] = cached
      continue
    key = jax.random.fold_in(jax.random.key(config.seed), len(table))
    start = time.perf_counter()
    params = unlearning.unlearn(
      method,
      original.params,
      gen.unet.apply,
      retain,
      forget,
      key,
      task=task,
      **options,
    )
    params = jax.block_until_ready(params)
    seconds = round(time.perf_counter() - start, 1)
    extra = {"method": method, "seconds": seconds}
    if retrain_seconds:
      extra["seconds_vs_retrain"] = seconds / retrain_seconds
    table[name] = judge(name, params, ev, workdir, config, sr, extra, signature)
  results = {
    "forget": str(request),
    "sizes": {"forget": len(forget["image"]), "retain": len(retain["image"])},
    "methods": table,
    "tolerance": config.tolerance,
    "quality": config.quality,
    "best": best_method(table, config.tolerance, config.quality),
  }
  with open(os.path.join(workdir, "methods.md"), "w") as f:
    f.write(render(results))
  return results
