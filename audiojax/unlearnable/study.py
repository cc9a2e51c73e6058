"""Protected data sets and the classifiers trained on them: the unit every table of
the ``unlearnable`` experiment is made of.

A :class:`Setting` says what the owner published (a perturbation with its knobs and
poison rate, or nothing) and what the trainer did to it before training (an input
transform from :data:`audiojax.defenses.transforms.TRANSFORMS`, applied to every
split, the clean test clips too, as a trainer's pipeline would). Its data set is
written once (:mod:`audiojax.unlearnable.dataset`; the train and validation splits
protected, the test split clean: the audio the model meets in the world), and each
classifier trained on it is an ordinary ``classifier`` run
(:func:`audiojax.train.runs.train_or_restore`), so everything resumes: a finished
data set or run is reused, an interrupted one continues.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from collections.abc import Mapping
from typing import Any

import jax
import ml_collections
import numpy as np

from audiojax import data
from audiojax.data.source import DataError
from audiojax.defenses import transforms
from audiojax.robustness import models as clf_models
from audiojax.train import runs
from audiojax.unlearnable import dataset, keys

SETTING_FILE = "setting.json"
PROTECTED_SPLITS = ("train", "validation")  # what the owner publishes
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Setting:
  """One protected data set.

  Attributes:
    dataset: a key of ``config.datasets``.
    method: ``"none"`` or a name in :data:`audiojax.unlearnable.PERTURBATIONS`.
    knobs: the perturbation's keyword arguments.
    poison_rate: the share of the published clips that are protected.
    transform: ``""``, or a name in ``config.transforms`` (the trainer's input
      transform, with its options there).
    label: how tables name it (the directory name too).
  """

  dataset: str
  method: str = "none"
  knobs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  poison_rate: float = 1.0
  transform: str = ""
  label: str = "clean"

  def record(self, seed: int) -> dict[str, Any]:
    return {
      "dataset": self.dataset,
      "method": self.method,
      "knobs": dict(self.knobs),
      "poison_rate": self.poison_rate,
      "transform": self.transform,
      "seed": seed,
    }


def _merge(config: ml_collections.ConfigDict, overrides: Mapping[str, Any]) -> None:
  for key, value in overrides.items():
    if key not in config:
      raise KeyError(f"override {key!r} is not a field of the classifier config")
    if isinstance(value, Mapping) and isinstance(
      config[key], ml_collections.ConfigDict
    ):
      _merge(config[key], value)
    else:
      config[key] = value


class Study:
  """The data sets of one experiment's workdir and the runs trained on them."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.config, self.workdir = config, workdir

  def dataset_config(self, name: str) -> ml_collections.ConfigDict:
    entry = self.config.datasets[name]
    d = ml_collections.ConfigDict(self.config.classifier.dataset.to_dict())
    d.name, d.config, d.label = entry.name, entry.config, entry.label
    return d

  @functools.cache  # noqa: B019 (one Study per run; the clips are what it caches)
  def clean(self, name: str) -> dict[str, Any]:
    """The clean splits of data set ``name`` as arrays, and its label space."""
    out: dict[str, Any] = {}
    for split in SPLITS:
      s = data.load_split(self.dataset_config(name), split)
      x, y = clf_models.first_examples(s, len(s), 64)
      out[split] = (np.asarray(x), np.asarray(y))
    out.update(
      class_names=list(s.class_names),
      sample_rate=s.sample_rate,
      clip_samples=s.clip_samples,
    )
    return out

  def protection_key(self, setting: Setting) -> keys.ProtectionKey:
    return keys.ProtectionKey.generate(
      setting.method,
      self.config.seed,
      poison_rate=setting.poison_rate,
      **setting.knobs,
    )

  def protected(self, setting: Setting, split: str = "train") -> np.ndarray:
    """The published clips of ``split`` (before any trainer transform)."""
    x, y = self.clean(setting.dataset)[split]
    if setting.method == "none" or split not in PROTECTED_SPLITS:
      return x
    return self.protection_key(setting).protect(x, y)[0]

  def _claimed(self, setting: Setting) -> tuple[str, bool]:
    """The setting's directory, and whether its label already names it there.

    Raises:
      DataError: if the label names another setting in this workdir.
    """
    path = os.path.join(self.workdir, "data", setting.dataset, setting.label)
    record = setting.record(self.config.seed)
    claim = os.path.join(path, SETTING_FILE)
    if not os.path.exists(claim):
      return path, False
    with open(claim) as f:
      saved = json.load(f)
    if saved != record:
      raise DataError(
        f"{path} holds another setting ({saved}, now {record}): a label names one "
        "setting; use a fresh workdir after changing what a label means"
      )
    return path, True

  def data_dir(self, setting: Setting) -> str:
    """The setting's data set, written on first use."""
    path, claimed = self._claimed(setting)
    record = setting.record(self.config.seed)
    claim = os.path.join(path, SETTING_FILE)
    if claimed and os.path.exists(
      os.path.join(dataset.dataset_dir(path), "dataset_info.json")
    ):
      return path
    os.makedirs(path, exist_ok=True)
    clean = self.clean(setting.dataset)
    splits = {}
    for split in SPLITS:
      x, y = clean[split]
      published, poisoned = x, np.zeros(len(y), bool)
      if setting.method != "none" and split in PROTECTED_SPLITS:
        published, poisoned = self.protection_key(setting).protect(x, y)
      splits[split] = (self.transformed(setting, published, split), y, poisoned)
    # A half-written data set from a crash is replaced whole.
    target = dataset.dataset_dir(path)
    if os.path.exists(target):
      shutil.rmtree(target)
    dataset.write(
      path,
      splits,
      class_names=clean["class_names"],
      sample_rate=clean["sample_rate"],
      clip_samples=clean["clip_samples"],
      protection={k: v for k, v in record.items() if k != "seed"},  # not the key
    )
    with open(claim, "w") as f:
      json.dump(record, f, indent=2)
    return path

  def transformed(self, setting: Setting, x: np.ndarray, split: str) -> np.ndarray:
    """``x`` through the trainer's transform (none: ``x``), in batches."""
    if not setting.transform:
      return x
    entry = dict(self.config.transforms[setting.transform])
    name = entry.pop("name")
    sample_rate = self.clean(setting.dataset)["sample_rate"]
    fn = jax.jit(transforms.TRANSFORMS.get(name)(sample_rate, **entry).fn)
    key = jax.random.fold_in(jax.random.key(self.config.seed), SPLITS.index(split))
    out = [
      np.asarray(fn(x[i : i + 64], jax.random.fold_in(key, i)))
      for i in range(0, len(x), 64)
    ]
    return np.clip(np.concatenate(out), -1.0, 1.0).astype(np.float32)

  def classifier_config(
    self, setting: Setting, model: str, overrides: Mapping[str, Any] | None = None
  ) -> ml_collections.ConfigDict:
    """The ``classifier`` config of ``model`` (a key of ``config.models``) trained on
    ``setting``'s data, with ``overrides`` (nested like the config) merged in."""
    entry = self.config.models[model]
    c = clf_models.classifier_config(self.config.classifier, entry, model)
    c.name = f"unlearnable {setting.dataset}/{setting.label}: {model}"
    c.dataset.name = dataset.NAME
    c.dataset.config = None
    c.dataset.label = "label"
    c.dataset.data_dir = self.data_dir(setting)
    _merge(c, overrides or {})
    return c

  def train(
    self,
    setting: Setting,
    model: str,
    defense: str = "",
    overrides: Mapping[str, Any] | None = None,
  ) -> dict[str, Any]:
    """Trains (or restores) ``model`` on ``setting``; its clean-test numbers.

    The plain clean run of a model may be one trained elsewhere on the same data set
    (``config.clean_runs[dataset][model]``, e.g. the quickstart's classifier); it is
    restored as it is.
    """
    name = f"{model}_{defense}" if defense else model
    workdir = os.path.join(self.workdir, "runs", setting.dataset, setting.label, name)
    given = self.config.clean_runs.get(setting.dataset, {}).get(model, "")
    if setting == Setting(setting.dataset) and not defense and given:
      workdir = given
    self._claimed(setting)  # a finished run of a label that changed meaning fails
    if not os.path.exists(os.path.join(workdir, "results.json")):  # else: finished
      runs.train_or_restore(self.classifier_config(setting, model, overrides), workdir)
    with open(os.path.join(workdir, "results.json")) as f:
      results = json.load(f)
    return {
      "test_accuracy": results["test_accuracy"],
      "validation_accuracy": results["validation_accuracy"],
      "steps": results["steps"],
      "workdir": workdir,
    }
