"""The ``unlearnable`` experiment: does protected audio stay unlearnable, how audible
is it, and what gets a trainer the task back?

Sections (``config.sections``), one key of ``results.json`` each:

* ``main``: for each data set and each front end x architecture
  (``config.main.models[dataset]``), a classifier trained on the clean, the CUDA and
  the PosCUDA data, all tested on clean test clips: ``clean``, ``cuda``, ``poscuda``
  (``{dataset: {model: test accuracy}}``) and ``chance`` (the majority class's share
  of each test set, what a constant guess gets).
* ``poison_rate``: ``{method: {rate: accuracy}}`` when only that share of the
  published clips is protected (the rest published clean).
* ``knobs``: ``{knob: {value: {accuracy, quality...}}}``, one knob of PosCUDA moved
  at a time from the default: the quality / unlearnability trade-off.
* ``defenses``: ``{defense: {protected accuracy, clean accuracy}}`` for what a
  trainer tries: adversarial training, noise / mixup / SpecAugment, an MP3 round
  trip, a low-pass, and blurring every clip (who knows the method). Each defense is
  trained on the protected data and, as its own ceiling, on the clean data.
* ``quality``: ``{setting: SNR, LSD, PESQ, Fréchet}`` of every protected set used,
  plus WAV pairs and spectrogram PNGs of the main settings in ``examples/``.

Every data set and classifier is a directory of its own under the workdir
(:mod:`audiojax.unlearnable.study`), so a rerun resumes where it stopped and a rerun
of some sections keeps the others' tables.
"""

from __future__ import annotations

import inspect
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from audiojax.configs import check_sections
from audiojax.train import report, runs
from audiojax.unlearnable import PERTURBATIONS, quality, tables
from audiojax.unlearnable.study import Setting, Study

SECTIONS = ("main", "poison_rate", "knobs", "defenses", "quality")
METHODS = ("cuda", "poscuda")  # the columns beside ``clean``


def _settings(config, dataset: str) -> dict[str, Setting]:
  out = {"clean": Setting(dataset)}
  for method in METHODS:
    out[method] = Setting(dataset, method, dict(config.methods[method]), label=method)
  return out


def main_section(study: Study, config) -> dict[str, Any]:
  out: dict[str, Any] = {"clean": {}, "chance": {}, **{m: {} for m in METHODS}}
  for dataset, models in config.main.models.items():
    if not models:  # --config.main.models.keywords="()" leaves a data set out
      continue
    _, y_test = study.clean(dataset)["test"]
    out["chance"][dataset] = float(np.bincount(y_test).max() / len(y_test))
    for label, setting in _settings(config, dataset).items():
      if label != "clean" and label not in config.main.methods:
        continue
      out[label][dataset] = {}
      for model in models:
        row = study.train(setting, model)
        out[label][dataset][model] = row["test_accuracy"]
        logging.info("unlearnable %s %s %s: %s", dataset, label, model, row)
  return out


def poison_rate_section(study: Study, config) -> dict[str, Any]:
  cfg = config.poison_rate
  base = _settings(config, cfg.dataset)
  out: dict[str, Any] = {"dataset": cfg.dataset, "model": cfg.model}
  for method in cfg.methods:
    out[method] = {}
    for rate in cfg.rates:
      if rate == 0:
        setting = base["clean"]
      elif rate == 1:
        setting = base[method]
      else:
        setting = Setting(
          cfg.dataset,
          method,
          dict(config.methods[method]),
          poison_rate=float(rate),
          label=f"{method}_rate{rate:g}",
        )
      out[method][f"{rate:g}"] = study.train(setting, cfg.model)["test_accuracy"]
  return out


def knob_settings(config) -> dict[str, dict[str, Setting]]:
  """``{knob: {value: Setting}}``: PosCUDA with one knob moved from the default."""
  cfg = config.knobs
  given = dict(config.methods.poscuda)
  signature = inspect.signature(PERTURBATIONS.get("poscuda")).parameters.values()
  default = {p.name: p.default for p in signature if p.default is not p.empty}
  default.update(given)  # what the default setting runs with, knob by knob
  out: dict[str, dict[str, Setting]] = {}
  for knob, values in cfg.sweep.items():
    out[knob] = {}
    for value in values:
      text = "none" if value is None else f"{value:g}"  # center=None: no center tap
      if value == default[knob]:  # the default setting itself, as main runs it
        label, knobs = "poscuda", given
      else:
        label, knobs = f"poscuda_{knob}{text}", {**given, knob: value}
      out[knob][text] = Setting(cfg.dataset, "poscuda", knobs, label=label)
  return out


def knobs_section(study: Study, config) -> dict[str, Any]:
  out: dict[str, Any] = {"dataset": config.knobs.dataset, "model": config.knobs.model}
  for knob, by_value in knob_settings(config).items():
    out[knob] = {
      value: {
        "accuracy": study.train(setting, config.knobs.model)["test_accuracy"],
        "setting": setting.label,  # its row of the quality table
      }
      for value, setting in by_value.items()
    }
  return out


def defense_settings(config) -> dict[str, Setting]:
  """The sets a defense is tried on, by label: ``clean``, the main methods and
  every knob setting (so the table can use the strongest protection found)."""
  cfg = config.defenses
  out = _settings(config, cfg.dataset)
  if config.knobs.dataset == cfg.dataset:
    for by_value in knob_settings(config).values():
      out.update({s.label: s for s in by_value.values()})
  unknown = [m for m in cfg.methods if m not in out]
  if unknown:
    raise ValueError(
      f"config.defenses.methods names {unknown}; known settings on "
      f"{cfg.dataset}: {sorted(out)}"
    )
  return out


def defenses_section(study: Study, config) -> dict[str, Any]:
  cfg = config.defenses
  base = defense_settings(config)
  out: dict[str, Any] = {"dataset": cfg.dataset, "model": cfg.model}
  out.update({name: {"about": e.about} for name, e in cfg.entries.items()})
  # Protected sets first, defense by defense, then what each defense costs on
  # clean data: an interrupted run has the rows that answer the question first.
  for label in (*cfg.methods, "clean"):
    for name, entry in cfg.entries.items():
      setting = base[label]
      if entry.transform:
        setting = Setting(
          setting.dataset,
          setting.method,
          setting.knobs,
          transform=entry.transform,
          label=f"{label}+{entry.transform}",
        )
      overrides = entry.overrides.to_dict()
      trained = study.train(setting, cfg.model, name if overrides else "", overrides)
      out[name][label] = trained["test_accuracy"]
      logging.info("unlearnable defense %s on %s: %s", name, label, out[name][label])
  return out


def quality_section(study: Study, config, workdir: str) -> dict[str, Any]:
  cfg = config.quality
  settings: dict[str, Setting] = {}
  for dataset, models in config.main.models.items():
    if not models:
      continue
    for s in _settings(config, dataset).values():
      if s.method in config.main.methods:
        settings[s.label if dataset == cfg.dataset else f"{dataset}/{s.label}"] = s
  for method in config.poison_rate.methods:
    for rate in config.poison_rate.rates:
      if 0 < rate < 1:
        settings[f"{method}_rate{rate:g}"] = Setting(
          config.poison_rate.dataset,
          method,
          dict(config.methods[method]),
          poison_rate=float(rate),
          label=f"{method}_rate{rate:g}",
        )
  for by_value in knob_settings(config).values():
    settings.update({s.label: s for s in by_value.values()})

  embed_fns = {}
  if cfg.embedding_model:
    for dataset, models in config.main.models.items():
      if not models:
        continue
      trained = study.train(Setting(dataset), cfg.embedding_model)
      run = runs.restore(trained["workdir"])
      embed_fns[dataset] = jax.jit(
        lambda v, run=run: run.model.apply(run.params, v, method="embed")
      )
  out: dict[str, Any] = {}
  for name, setting in settings.items():
    clean = study.clean(setting.dataset)
    x = clean["train"][0][: cfg.examples]
    protected = study.protected(setting)[: cfg.examples]
    out[name] = quality.protection_quality(
      x, protected, clean["sample_rate"], embed_fns.get(setting.dataset)
    )
    logging.info("unlearnable quality %s: %s", name, out[name])
  for method in config.main.methods:
    setting = _settings(config, cfg.dataset)[method]
    clean = study.clean(cfg.dataset)
    x = clean["train"][0][: cfg.wav_examples]
    quality.write_examples(
      os.path.join(workdir, "examples", method),
      x,
      study.protected(setting)[: cfg.wav_examples],
      clean["sample_rate"],
      [f"{method}_{i}" for i in range(len(x))],
    )
  return out


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  check_sections(config.sections, SECTIONS)
  start = time.perf_counter()
  study = Study(config, workdir)
  results: dict[str, Any] = {
    "datasets": {n: f"{e.name}/{e.config}" for n, e in config.datasets.items()},
    "methods": config.methods.to_dict(),
    "seed": config.seed,
  }
  timings = {}
  sections = {
    "main": lambda: main_section(study, config),
    "poison_rate": lambda: {"poison_rate": poison_rate_section(study, config)},
    "knobs": lambda: {"knobs": knobs_section(study, config)},
    "defenses": lambda: {"defenses": defenses_section(study, config)},
    "quality": lambda: {"quality": quality_section(study, config, workdir)},
  }
  for name in SECTIONS:
    if name in config.sections:
      t = time.perf_counter()
      results.update(sections[name]())
      timings[name] = round(time.perf_counter() - t, 1)
  previous = report.previous_results(workdir, results, ("datasets", "methods", "seed"))
  for key in ("clean", "chance", *METHODS):  # a rerun of some models keeps the others'
    if key in previous and key in results:
      results[key] = {
        dataset: {**previous[key].get(dataset, {}), **row}
        if isinstance(row, dict)
        else row
        for dataset, row in {**previous[key], **results[key]}.items()
      }
  results = {**previous, **results}
  results["section_seconds"] = {**previous.get("section_seconds", {}), **timings}
  results["wall_seconds_this_invocation"] = round(time.perf_counter() - start, 1)
  with open(os.path.join(workdir, "tables.md"), "w") as f:
    f.write(tables.render(results))
  return results
