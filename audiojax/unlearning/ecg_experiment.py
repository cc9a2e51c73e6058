"""The ``ecg_unlearning`` experiment: personalize, expose, unlearn (Chatterjee et al.,
2024, "Personalized machine unlearning for ECG", with the unlearning suite's
standard metrics).

1. **Pretrain** a 1-D ResNet on the population (``config.pretrain``, a classifier
   run in ``workdir/base``, restorable with :func:`audiojax.train.restore`).
2. **Personalize**: for each studied patient, fine-tune the population model on
   the patient's first half of beats (``personal_train``: the patient's points).
3. **Exposure**: membership inference (loss attack, the patient's points vs their
   later beats) and FGSM / PGD success on the points, for the population model and
   the personalized one.
4. **Unlearn** the points with every method (``config.methods``), ``config.seeds``
   runs each, against retraining: the population recipe from scratch on the
   population data, which never saw the patient (so one set of retrained models
   serves every patient).

``results.json``: ``methods`` (each method's row averaged over patients, with the
``retrain`` and ``original`` rows), ``per_patient``, ``exposure`` (population vs
personalized) and ``chance``; ``exposure.png`` draws the exposure per method.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from audiojax import attacks, data
from audiojax.data import pipeline
from audiojax.models import classifier
from audiojax.train import losses, optim
from audiojax.train.runs import train_or_restore
from audiojax.unlearning import figures, fit, metrics, study, tables


def _subset(d: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
  return {k: v[idx] for k, v in d.items() if k in ("audio", "label")}


def personalize(params, apply_fn, points, key, cfg) -> Any:
  """The population model fine-tuned on a patient's points (Adam, ``cfg.steps``)."""
  out, _ = fit.descend(
    params,
    losses.classification_loss(apply_fn),
    lambda k, d: fit.draw(d, k, cfg.batch_size),
    key,
    steps=cfg.steps,
    tx=fit.optimizer("adam", cfg.learning_rate),
    data=jax.tree.map(jnp.asarray, points),
  )
  return out


def exposure_fn(apply_fn, points, others, cfg, batch_size: int):
  """``params -> {patient_mia_auc, fgsm_<eps>, pgd_<eps>}``.

  ``patient_mia_auc``: the loss attack at the patient level (does the model hold
  this patient?): the patient's points against the beats of the other personal
  patients, whom no model of the study trained on. ``fgsm_<eps>`` / ``pgd_<eps>``:
  the share of the points a model gets right that the attack makes it miss (L-inf,
  in units of the scaled lead). The attacks are jitted once, params an argument."""
  x, y = jnp.asarray(points["audio"]), jnp.asarray(points["label"])

  def craft(name, eps):
    def fn(params, x, y):
      logits_fn = lambda v: apply_fn(params, v)  # noqa: E731
      if name == "fgsm":
        return attacks.fgsm(logits_fn, x, y, eps=eps)
      return attacks.pgd(
        logits_fn,
        x,
        y,
        jax.random.key(0),
        eps=eps,
        step_size=eps / 4,
        steps=cfg.pgd_steps,
      )

    return jax.jit(fn)

  crafted = {
    f"{name}_{eps:g}": craft(name, eps) for eps in cfg.eps for name in ("fgsm", "pgd")
  }

  def fn(params):
    logits = study.logits_of(apply_fn, params, points["audio"], batch_size)
    other = study.logits_of(apply_fn, params, others["audio"], batch_size)
    mia = metrics.loss_mia(
      study.losses_of(logits, points["label"]), study.losses_of(other, others["label"])
    )
    correct = np.argmax(logits, -1) == points["label"]
    out = {"patient_mia_auc": mia["auc"]}
    for name, attack in crafted.items():
      adv = np.asarray(attack(params, x, y))
      wrong = np.argmax(study.logits_of(apply_fn, params, adv, batch_size), -1)
      wrong = wrong != points["label"]
      out[name] = float(wrong[correct].mean()) if correct.any() else 0.0
    return out

  return fn


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the study (the population model resumes from ``workdir/base``)."""
  base = train_or_restore(config.pretrain, os.path.join(workdir, "base"))
  apply_fn = base.model.apply
  ds = config.pretrain.dataset
  read = lambda split: pipeline.split_arrays(  # noqa: E731
    data.load(ds.name, split, data_dir=ds.data_dir, config=ds.config, label=ds.label)
  )
  train, test, validation = read("train"), read("test"), read("validation")
  personal, later = read("personal_train"), read("personal_test")
  retain = _subset(train, np.arange(len(train["label"])))
  _, init_fn = classifier.restorable(config.pretrain, base.info)
  tx, _ = optim.make_optimizer(config.pretrain)
  retrain_options = dict(
    init_fn=jax.jit(init_fn),
    steps=config.pretrain.total_steps,
    batch_size=config.pretrain.batch_size,
    tx=tx,
  )
  methods = config.methods.to_dict()
  if "scrub_r" in methods:  # rewinds to the population's held-out error
    methods["scrub_r"]["validation"] = _subset(
      validation, np.arange(len(validation["label"]))
    )
  key = jax.random.key(config.seed)
  patients = np.unique(personal["patient"])[: config.patients]
  retrain, per_patient, exposure = None, {}, {}
  for pid in patients:
    points = _subset(personal, np.flatnonzero(personal["patient"] == pid))
    held = _subset(later, np.flatnonzero(later["patient"] == pid))
    sets = study.Sets(
      retain=retain,
      forget=points,
      test=_subset(test, np.arange(len(test["label"]))),
      heldout=held,
    )
    others = _subset(later, np.flatnonzero(later["patient"] != pid))
    extra_fn = exposure_fn(
      apply_fn, points, others, config.attack, config.eval_batch_size
    )
    personalized = personalize(
      base.params,
      apply_fn,
      points,
      jax.random.fold_in(key, int(pid)),
      config.personalize,
    )
    if retrain is None:
      retrain = study.run_method(
        "retrain",
        personalized,
        apply_fn,
        sets,
        jax.random.fold_in(key, 10_000),
        seeds=config.seeds,
        options=retrain_options,
        batch_size=config.eval_batch_size,
        extra_fn=extra_fn,
      )
    else:  # the same models, scored on this patient's data
      retrain = rescore(retrain, apply_fn, sets, config, extra_fn)
    result = study.run_study(
      personalized,
      apply_fn,
      sets,
      jax.random.fold_in(key, int(pid) + 1),
      methods=methods,
      retrain=retrain,
      seeds=config.seeds,
      batch_size=config.eval_batch_size,
      extra_fn=extra_fn,
    )
    population, _ = study.measure(
      apply_fn,
      base.params,
      sets,
      batch_size=config.eval_batch_size,
      seed=0,
      extra_fn=extra_fn,
    )
    table = result["methods"]
    table["original"] = result["original"]
    per_patient[str(int(pid))] = table
    exposure[str(int(pid))] = {
      "population": population,
      "personalized": result["original"],
    }
    logging.info("patient %d: %s", pid, table)
  methods = _mean_tables(list(per_patient.values()))
  figures.exposure_png(os.path.join(workdir, "exposure.png"), methods, exposure)
  _write_tables(workdir, methods, per_patient, exposure)
  return {
    "methods": methods,
    "per_patient": per_patient,
    "exposure": exposure,
    "chance": 1.0 / len(base.info["class_names"]),
    "class_names": list(base.info["class_names"]),
    "patients": [int(p) for p in patients],
    "seeds": config.seeds,
    "population_steps": int(base.step),
  }


def _write_tables(workdir, methods, per_patient, exposure) -> None:
  """``methods.md``: the mean table, each patient's, and the exposure rows."""
  parts = ["# ECG unlearning: mean over patients", "", tables.methods_md(methods)]
  rows = {
    f"patient {p} {model}": e[model]
    for p, e in exposure.items()
    for model in ("population", "personalized")
  }
  parts += ["## Exposure before unlearning", "", tables.methods_md(rows)]
  for pid, table in per_patient.items():
    parts += [f"## Patient {pid}", "", tables.methods_md(table)]
  with open(os.path.join(workdir, "methods.md"), "w") as f:
    f.write("\n".join(parts))


def rescore(retrain, apply_fn, sets, config, extra_fn):
  """The retrained models of an earlier patient, measured on this one's sets."""
  rows, confs = [], []
  for s, params in enumerate(retrain["all_params"]):
    row, conf = study.measure(
      apply_fn,
      params,
      sets,
      batch_size=config.eval_batch_size,
      seed=s,
      extra_fn=extra_fn,
    )
    rows.append(row)
    confs.append(conf)
  return {**retrain, "rows": rows, "confs": np.stack(confs)}


def _mean_tables(tables: list[dict[str, dict[str, float]]]) -> dict[str, dict]:
  return {
    name: {
      k: float(np.mean([t[name][k] for t in tables if k in t[name]]))
      for k in tables[0][name]
    }
    for name in tables[0]
  }
