"""The ``attacks`` experiment: every robustness table of trained audio classifiers.

  python -m launch.run --config=experiments/attacks.py:runlocal --workdir=runs/attacks

It trains (or restores) the classifiers ``config.models`` names, the target first,
then runs the sections ``config.sections`` lists, each on the same ``examples`` test
clips. ``results.json`` gets one key per section:

* ``robust``: ``clean_accuracy``, ``robust_accuracy`` (``linf``/``l2``/``snr_db`` ->
  attack -> budget -> accuracy), through the ``robust`` evaluators of ``config.evals``;
* ``transfer``: source -> target -> success rate (sources include the ensembles);
* ``codecs``: ``mp3`` (bitrate -> rates) and ``codecs`` (every codec);
* ``over_the_air``: plain PGD vs EOT in unseen rooms;
* ``universal``: fooling rate vs noise of the same norm;
* ``transcription``: note F1 of our transcriber and of basic-pitch, clean/attacked;
* ``defenses``: adversarial training rows and input-transform rows;
* ``masking``: ``masking_checks``;
* ``quality``: SNR and PESQ of every adversarial set the sections made.

Reruns restore the trained models and recompute the sections they list (attacks are
seeded); tables of sections not listed are kept from the last ``results.json`` when it
attacked the same clips. Every finished section is also written to
``results.partial.json`` at once, so a long run stopped midway keeps its tables.
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

from audiojax import data, evaluators, quality
from audiojax.configs import check_sections
from audiojax.robustness import (
  SECTIONS,
  defended,
  figures,
  models,
  playback,
  sections,
  tables,
)
from audiojax.train import report, runs


def _models(config, workdir, every: bool) -> dict[str, Any]:
  """The target, and with ``every`` all of ``config.models``, trained or restored."""
  out = {}
  names = [config.target]
  if every:
    names += [n for n in config.models if n != config.target]
  for name in names:
    entry = config.models[name]
    path = entry.workdir or os.path.join(workdir, "models", name)
    cfg = models.classifier_config(config.classifier, entry, name)
    out[name] = runs.train_or_restore(cfg, path)
    logging.info("model %s: %s (step %d)", name, path, out[name].step)
  return out


SAME_CLIPS = ("dataset", "label", "target", "split", "examples")


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
  """``new`` over ``old``: a rerun of some sections keeps the others' tables."""
  out = {**old, **new}
  for key in ("quality", "section_seconds", "models"):
    out[key] = {**old.get(key, {}), **new.get(key, {})}
  return out


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  check_sections(config.sections, SECTIONS)
  start = time.perf_counter()
  wanted = set(config.sections)
  trained = _models(config, workdir, "transfer" in wanted)
  target = trained[config.target]
  fn = models.logits_fn(target)
  dataset = target.config.dataset
  sr = int(target.info["sample_rate"])
  bs = int(config.batch_size)
  x, y = models.first_examples(
    data.load_split(dataset, config.split), config.examples, bs
  )
  root = jax.random.key(config.seed)
  key = lambda name: jax.random.fold_in(root, sum(map(ord, name)))  # noqa: E731
  results: dict[str, Any] = {
    "dataset": dataset.name,
    "label": target.info["label"],
    "target": config.target,
    "split": config.split,
    "examples": int(len(x)),
    "models": {n: r.workdir for n, r in trained.items()},
  }
  adv_sets: dict[str, Any] = {}
  timings: dict[str, float] = {}

  def section(name, fn_):
    if name in wanted:
      t = time.perf_counter()
      fn_()
      timings[name] = round(time.perf_counter() - t, 1)
      logging.info("section %s: %.1f s", name, timings[name])
      # Each finished table is on disk at once: a long run stopped midway keeps them.
      partial = os.path.join(workdir, "results.partial.json")
      with open(partial + ".tmp", "w") as f:
        json.dump({**results, "section_seconds": timings}, f, indent=2)
      os.replace(partial + ".tmp", partial)

  def robust():
    context = evaluators.Context(target.model, dataset, config.seed, workdir)
    results.update(sections.robust_accuracy(config.evals, context, target.params))
    q, sets = sections.pgd_quality(
      fn,
      x,
      y,
      key("quality"),
      eps=config.quality.eps,
      snr_db=config.quality.snr_db,
      steps=config.quality.steps,
      batch_size=bs,
      sample_rate=sr,
    )
    results.setdefault("quality", {}).update(q)
    adv_sets.update(sets)

  def transfer():
    fns = {n: models.logits_fn(r) for n, r in trained.items()}
    results["transfer"] = sections.transfer(
      fns,
      dict(config.transfer.ensembles),
      x,
      y,
      key("transfer"),
      eps=config.transfer.eps,
      steps=config.transfer.steps,
      batch_size=bs,
    )
    results["transfer_clean_accuracy"] = {
      n: float(np.mean(models.predictions(f, x, bs) == np.asarray(y)))
      for n, f in fns.items()
    }

  def codecs():
    table, sets = playback.codec_table(
      fn,
      x,
      y,
      key("codecs"),
      names=config.codecs.names,
      eps=config.codecs.eps,
      steps=config.codecs.steps,
      batch_size=bs,
      sample_rate=sr,
    )
    results["mp3"] = {
      k.split("_")[1]: v for k, v in table.items() if k.startswith("mp3_")
    }
    results["codecs"] = table
    adv_sets.update(sets)

  def over_the_air():
    table, sets = playback.over_the_air_table(
      fn,
      x,
      y,
      key("over_the_air"),
      config.over_the_air,
      seed=config.seed,
      batch_size=bs,
      sample_rate=sr,
    )
    results["over_the_air"] = table
    adv_sets.update(sets)

  def universal():
    u = config.universal
    train = models.first_examples(data.load_split(dataset, "train"), u.fit_examples, bs)
    results["universal"], adv_sets["universal"] = sections.universal_table(
      fn,
      train,
      x,
      key("universal"),
      eps=u.eps,
      rel_step=u.rel_step,
      epochs=u.epochs,
      batch_size=bs,
    )

  def transcription():
    from audiojax.robustness import transcribe

    table, sets = transcribe.transcription_table(
      config.transcription, workdir, config.seed
    )
    results["transcription"] = table
    results.setdefault("quality", {}).update(
      {name: quality.summary(ref, adv, sr) for name, (ref, adv) in sets.items()}
    )

  def defenses():
    d = config.defenses
    results["defenses"] = {
      "adversarial_training": defended.adversarial_training(
        target,
        d.training,
        d.finetune,
        x,
        y,
        key("defenses"),
        workdir=os.path.join(workdir, "defenses"),
        batch_size=bs,
      ),
      "input_transforms": defended.transform_table(
        fn,
        d.transforms,
        x,
        y,
        key("transforms"),
        eps=d.attack.eps,
        steps=d.attack.steps,
        samples=d.attack.samples,
        draws=d.attack.draws,
        batch_size=bs,
        sample_rate=sr,
      ),
    }

  def masking():
    n = min(int(config.masking.examples), len(x))
    results["masking_checks"] = sections.masking(
      fn,
      x[:n],
      y[:n],
      key("masking"),
      eps=config.masking.eps,
      steps=config.masking.steps,
    )

  bodies = {
    "robust": robust,
    "transfer": transfer,
    "codecs": codecs,
    "over_the_air": over_the_air,
    "universal": universal,
    "transcription": transcription,
    "defenses": defenses,
    "masking": masking,
  }
  for name in SECTIONS:
    section(name, bodies[name])
  for name, adv in adv_sets.items():
    if name not in results.get("quality", {}):
      results.setdefault("quality", {})[name] = quality.summary(x, adv, sr)
  results["section_seconds"] = timings
  results = _merge(report.previous_results(workdir, results, SAME_CLIPS), results)
  figures.draw(workdir, results, x, adv_sets, sr)
  with open(os.path.join(workdir, "tables.md"), "w") as f:
    f.write(tables.everything(results))
  results["wall_seconds_this_invocation"] = round(time.perf_counter() - start, 1)
  return results
