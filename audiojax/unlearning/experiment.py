"""The ``unlearning`` experiment: a trained classifier forgets random clips or a
whole class, every method against retraining, in SalUn's layout.

The original is a finished ``classifier`` run (``config.classifier_workdir``, e.g.
the quickstart's) or one trained here in ``workdir/original``; retraining runs its
recipe (steps, batch size, optimizer and schedule) from scratch on the retain set.
Per scenario (:data:`SCENARIOS`) the forget set is drawn from the training split:

* ``random``: ``random_fraction`` of the clips (SalUn's 10 % random forgetting);
  membership non-members are the test clips, TA is test accuracy.
* ``class``: every clip of ``forget_class``; non-members are that class's test clips,
  TA is the accuracy on the other classes' test clips (``forget_test_acc`` is the
  forgotten class's, which retraining brings to 0).

``results.json``: ``scenarios`` -> ``{methods, forget_size, ...}``; ``methods.md``
holds each scenario's table in our layout and SalUn's.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import numpy as np

from audiojax import data
from audiojax.data import pipeline
from audiojax.models import classifier
from audiojax.train import optim, runs
from audiojax.train.runs import train_or_restore
from audiojax.unlearning import UnlearningError, figures, study, tables

SCENARIOS = ("random", "class")


def _take(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
  return {"audio": d["audio"][mask], "label": d["label"][mask]}


def scenario_sets(
  name: str,
  train: dict,
  test: dict,
  config: ml_collections.ConfigDict,
  class_names: tuple[str, ...],
) -> study.Sets:
  """The retain / forget / test / held-out sets of one scenario."""
  n = len(train["label"])
  if name == "random":
    rng = np.random.default_rng(config.seed)
    forget = np.zeros(n, bool)
    forget[rng.permutation(n)[: int(round(config.random_fraction * n))]] = True
    every = np.ones(len(test["label"]), bool)
    return study.Sets(
      retain=_take(train, ~forget),
      forget=_take(train, forget),
      test=_take(test, every),
      heldout=_take(test, every),
    )
  if name == "class":
    if config.forget_class not in class_names:
      raise UnlearningError(
        f"forget_class {config.forget_class!r} is not a class: {list(class_names)}"
      )
    k = class_names.index(config.forget_class)
    forget, in_test = train["label"] == k, test["label"] == k
    return study.Sets(
      retain=_take(train, ~forget),
      forget=_take(train, forget),
      test=_take(test, ~in_test),
      heldout=_take(test, in_test),
      extra={"forget_test": _take(test, in_test)},
    )
  raise UnlearningError(f"unknown scenario {name!r}; valid: {list(SCENARIOS)}")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs every scenario (the original resumes or is restored)."""
  if config.classifier_workdir:
    original = runs.restore(config.classifier_workdir)
  else:
    original = train_or_restore(config.classifier, os.path.join(workdir, "original"))
  recipe = original.config
  ds = recipe.dataset
  read = lambda split: pipeline.split_arrays(  # noqa: E731
    data.load(ds.name, split, data_dir=ds.data_dir, config=ds.config, label=ds.label),
    fields=("audio",),
  )
  train, test = read("train"), read("test")
  class_names = tuple(original.info["class_names"])
  _, init_fn = classifier.restorable(recipe, original.info)
  tx, _ = optim.make_optimizer(recipe)
  retrain = dict(
    init_fn=jax.jit(init_fn),
    steps=int(recipe.total_steps),
    batch_size=int(recipe.batch_size),
    tx=tx,
  )
  key = jax.random.key(config.seed)
  out, parts = {}, []
  for i, name in enumerate(config.scenarios):
    sets = scenario_sets(name, train, test, config, class_names)
    methods = {"retrain": retrain, **config.methods.to_dict()}
    if "scrub_r" in methods:  # rewinds to the error on clips never trained on
      methods["scrub_r"]["validation"] = sets.heldout
    result = study.run_study(
      original.params,
      original.model.apply,
      sets,
      jax.random.fold_in(key, i),
      methods=methods,
      seeds=config.seeds,
      batch_size=config.eval_batch_size,
    )
    table = {"original": result["original"], **result["methods"]}
    out[name] = {
      "methods": table,
      "forget_size": int(len(sets.forget["label"])),
      "retain_size": int(len(sets.retain["label"])),
    }
    figures.methods_png(
      os.path.join(workdir, f"{name}.png"),
      table,
      ("forget_acc", "retain_acc", "test_acc", "mia_efficacy", "forget_score"),
      f"{name} forgetting ({len(sets.forget['label'])} clips)",
    )
    parts += [
      f"## {name} forgetting",
      "",
      tables.methods_md(table),
      "SalUn's layout:",
      "",
      tables.salun_md(table),
    ]
  with open(os.path.join(workdir, "methods.md"), "w") as f:
    f.write("\n".join(["# Unlearning a music classifier", "", *parts]))
  return {
    "scenarios": out,
    "original_workdir": original.workdir,
    "class_names": list(class_names),
    "chance": 1.0 / len(class_names),
    "seeds": config.seeds,
  }
