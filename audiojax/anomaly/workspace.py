"""What the ``anomaly`` experiment's sections share: each data set's clips and
classifier (loaded or trained on first use), and the fitted detectors, saved under
``workdir/detectors/DATASET/NAME`` and loaded from there on a rerun."""

from __future__ import annotations

import functools
import os
import time
import zlib
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from audiojax import anomaly, data
from audiojax.robustness import models as clf_models
from audiojax.train import runs


def key_of(root: jax.Array, *names: Any) -> jax.Array:
  for name in names:
    root = jax.random.fold_in(root, zlib.crc32(str(name).encode()) & 0x7FFFFFFF)
  return root


class Collection:
  """One data set's clips (train / validation / test, at the pipeline's clip length)
  and its classifier run, loaded and trained on first use."""

  def __init__(self, name: str, entry: ml_collections.ConfigDict, config, workdir):
    self.name, self.entry, self.config, self.workdir = name, entry, config, workdir
    self._clips: dict[str, tuple[jax.Array, jax.Array]] = {}

  @functools.cached_property
  def dataset(self) -> ml_collections.ConfigDict:
    d = ml_collections.ConfigDict(self.config.classifier.dataset.to_dict())
    d.name, d.config, d.label = self.entry.name, self.entry.config, self.entry.label
    return d

  def clips(self, split: str, n: int) -> tuple[jax.Array, jax.Array]:
    if (split, n) not in self._clips:
      s = data.load_split(self.dataset, split)
      self.sample_rate = s.sample_rate
      self.num_classes = s.num_classes
      self._clips[split, n] = clf_models.first_examples(s, n, 64)
    return self._clips[split, n]

  @functools.cached_property
  def classifier(self):
    """The data set's classifier run: the one the config names, or trained here."""
    path = self.entry.classifier_workdir or os.path.join(
      self.workdir, "classifiers", self.name
    )
    cfg = ml_collections.ConfigDict(self.config.classifier.to_dict())
    cfg.dataset = self.dataset
    cfg.name = f"classifier for anomaly detection: {self.name}"
    run = runs.train_or_restore(cfg, path)
    logging.info("classifier %s: %s (step %d)", self.name, path, run.step)
    return run


def _detector_options(
  name: str, options: dict[str, Any], ds: Collection
) -> dict[str, Any]:
  """``options`` with the data set's classifier filled in where a detector needs it."""
  options = dict(options)
  if name == "embedding" and not options.get("workdir"):
    options["workdir"] = ds.classifier.workdir
  if name == "combined":
    member_options = {k: dict(v) for k, v in options.get("options", {}).items()}
    if "embedding" in options.get("members", ()):
      member_options.setdefault("embedding", {})
      member_options["embedding"].setdefault("workdir", ds.classifier.workdir)
    options["options"] = member_options
  return options


def fitted_detectors(
  config, ds: Collection, workdir: str
) -> dict[str, anomaly.Detector]:
  """Every detector and peer of ``config`` for data set ``ds``: loaded from
  ``workdir/detectors/DATASET/NAME`` if saved there, else fit, calibrated, saved."""
  train, _ = ds.clips("train", config.train_examples)
  val, _ = ds.clips("validation", config.validation_examples)
  out = {}
  entries = [(n, o.to_dict()) for n, o in config.detectors.items()]
  entries += [(n, o.to_dict()) for n, o in config.peers.items()]
  for name, options in entries:
    kind = "pyod" if name in config.peers else name
    path = os.path.join(workdir, "detectors", ds.name, name)
    if os.path.exists(os.path.join(path, "detector.json")):
      out[name] = anomaly.load(path)
      continue
    t = time.perf_counter()
    detector = anomaly.fit(
      kind,
      np.asarray(train),
      ds.sample_rate,
      key_of(jax.random.key(config.seed), "fit", ds.name, name),
      **_detector_options(kind, options, ds),
    )
    detector.calibrate(np.asarray(val), false_alarm_rate=config.false_alarm_rate)
    detector.save(path)
    logging.info("%s/%s fit in %.1f s", ds.name, name, time.perf_counter() - t)
    out[name] = detector
  return out
