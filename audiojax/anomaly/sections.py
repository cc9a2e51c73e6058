"""The ``mislabels``, ``notes`` and ``adversarial`` sections of the ``anomaly``
experiment (:mod:`audiojax.anomaly.experiment` describes their tables)."""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from audiojax.anomaly import (
  adversarial,
  folds,
  metrics,
  mislabels,
  note_scores,
)
from audiojax.anomaly.workspace import fitted_detectors, key_of
from audiojax.attacks import universal
from audiojax.channel import rooms
from audiojax.robustness import models as clf_models
from audiojax.robustness import playback, sections
from audiojax.train import runs
from audiojax.transcription import data as tdata


def mislabels_section(config, datasets, workdir) -> dict[str, Any]:
  cfg = config.mislabels
  row_ids = ("num_examples", "num_noisy", "k")
  ds = datasets[cfg.dataset]
  x, y = ds.clips("train", cfg.examples)
  y = np.asarray(y)
  out: dict[str, Any] = {
    "dataset": ds.name,
    "examples": int(len(y)),
    "folds": cfg.folds,
    "tta_shifts": cfg.tta_shifts,
  }
  for kind, rate in cfg.noise:
    rows = []
    for seed in cfg.noise_seeds:  # a label-noise draw each; the same folds and models
      noisy, flipped = mislabels.inject_label_noise(
        y, ds.num_classes, float(rate), int(seed), kind
      )
      run_dir = os.path.join(workdir, "mislabels", f"{kind}_{rate:g}_seed{seed}")
      t = time.perf_counter()
      probs_of = functools.partial(
        folds.out_of_fold_probs,
        cfg.classifier,
        np.asarray(x),
        noisy,
        num_classes=ds.num_classes,
        sample_rate=ds.sample_rate,
        folds=cfg.folds,
        stack=cfg.stack,
      )
      probs = probs_of(workdir=run_dir)
      row = mislabels.evaluate(noisy, probs, flipped)
      row["out_of_fold_accuracy"] = float(np.mean(np.argmax(probs, -1) == y))
      if cfg.tta_shifts > 1:
        # The same models, each clip's softmax averaged over time shifts (the run
        # is finished, so this only restores it): better probabilities, every
        # ranker again.
        tta = probs_of(workdir=run_dir, shifts=cfg.tta_shifts)
        second = mislabels.evaluate(noisy, tta, flipped)
        row.update({f"tta_{k}": v for k, v in second.items() if k not in row_ids})
        row["tta_out_of_fold_accuracy"] = float(np.mean(np.argmax(tta, -1) == y))
      if cfg.refit_filter:
        # Confident learning's second pass: new fold models trained without what
        # the first pass flagged, then every ranker again on their probabilities.
        weight = mislabels.refit_weights(noisy, probs, cfg.refit_filter)
        again = probs_of(workdir=f"{run_dir}_refit", weight=weight)
        second = mislabels.evaluate(noisy, again, flipped)
        row.update({f"refit_{k}": v for k, v in second.items() if k not in row_ids})
        row["refit_left_out"] = int(np.count_nonzero(weight == 0))
        row["refit_out_of_fold_accuracy"] = float(np.mean(np.argmax(again, -1) == y))
      row["seconds"] = round(time.perf_counter() - t, 1)
      logging.info("mislabels %s %g seed %d: %s", kind, rate, seed, row)
      rows.append(row)
    # The mean over the noise draws, and each draw's numbers.
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    mean.update({k: rows[0][k] for k in row_ids})
    out[f"{kind}_{rate:g}"] = {**mean, "seeds": list(cfg.noise_seeds), "per_seed": rows}
  return out


def notes_section(config, workdir) -> dict[str, Any]:
  cfg = config.notes
  run = runs.train_or_restore(
    cfg.config, cfg.workdir or os.path.join(workdir, "transcriber")
  )
  grid = run.model.grid
  split = tdata.load_split(run.config.dataset, "test", grid)
  keep = [i for i, n in enumerate(split.notes) if len(n)][: cfg.examples]
  audio = np.stack([split.source[i]["audio"] for i in keep])
  probs = note_scores.transcriber_probs(run, audio, batch_size=cfg.batch_size)
  table = note_scores.evaluate(
    list(probs),
    [split.notes[i] for i in keep],
    grid.frame_rate,
    tuple(cfg.kinds),
    cfg.rate,
    config.seed,
  )
  return {"transcriber": run.workdir, "clips": len(keep), "rate": cfg.rate, **table}


def adversarial_section(config, datasets, workdir, root) -> dict[str, Any]:
  cfg = config.adversarial
  ds = datasets[cfg.dataset]
  run = ds.classifier
  fn = clf_models.logits_fn(run)
  bs = int(config.batch_size)
  x, y = ds.clips("test", config.test_examples)
  eps, steps = float(cfg.eps), int(cfg.steps)
  pgd = sections.pgd_fn(fn, steps=steps)

  sets = {"pgd": sections.attack_batches(pgd, x, y, key_of(root, "pgd"), eps, bs)}
  xt, yt = ds.clips("train", cfg.train_examples)
  batches = [(xt[i : i + bs], yt[i : i + bs]) for i in range(0, len(xt), bs)]
  v = universal.universal(
    fn, batches, tuple(x.shape[1:]), eps=eps, step_size=eps * 0.1, epochs=cfg.epochs
  )
  sets["universal"] = jnp.clip(x + v[None], -1.0, 1.0)
  rirs = rooms.random_rirs(
    config.seed, cfg.rooms, ds.sample_rate, rt60_range=(0.2, 0.6), max_order=8
  )
  channel = playback.room_channel(
    rirs, dict(snr_db=(30.0, 50.0), gain_db=(-6.0, 0.0), max_shift=160)
  )
  eot = playback.eot_fn(fn, channel, steps=steps, samples=cfg.eot_samples)
  sets["eot"] = sections.attack_batches(eot, x, y, key_of(root, "eot"), eps, bs)

  # The supervised detector: clean training clips vs PGD versions of them.
  adv_train = sections.attack_batches(pgd, xt, yt, key_of(root, "pgd_train"), eps, bs)
  det_model, det_params = adversarial.train_detector(
    cfg.detector,
    np.asarray(xt),
    np.asarray(adv_train),
    sample_rate=ds.sample_rate,
    workdir=os.path.join(workdir, "adversarial_detector"),
  )
  det_fn = adversarial.detector_logit_fn(det_model, det_params)

  correct = clf_models.predictions(fn, x, bs) == np.asarray(y)
  detectors = fitted_detectors(config, ds, workdir)
  x_np = np.asarray(x)
  clean_scores = {n: d.score(x_np) for n, d in detectors.items()}
  clean_scores["supervised"] = adversarial.scores(det_fn, x, bs)

  def judge(adv) -> dict[str, Any]:
    adv_np = np.asarray(adv)
    row = {"success_rate": clf_models.success_rate(fn, adv, y, correct, bs)}
    scores = {n: d.score(adv_np) for n, d in detectors.items()}
    scores["supervised"] = adversarial.scores(det_fn, adv, bs)
    row["auroc"] = {n: metrics.auroc(clean_scores[n], s) for n, s in scores.items()}
    return row

  out: dict[str, Any] = {
    "dataset": ds.name,
    "eps": eps,
    "examples": int(len(x)),
    "clean_accuracy": float(np.mean(correct)),
    "sets": {name: judge(adv) for name, adv in sets.items()},
    "adaptive": {},
  }
  for weight in cfg.adaptive_weights:
    attack = jax.jit(
      functools.partial(
        adversarial.adaptive_pgd,
        fn,
        det_fn,
        eps=eps,
        step_size=eps * 0.25,
        steps=steps,
        weight=float(weight),
      )
    )
    adv = jnp.concatenate(
      [
        attack(x[i : i + bs], y[i : i + bs], key_of(root, "adaptive", weight, i))
        for i in range(0, len(x), bs)
      ]
    )
    out["adaptive"][str(weight)] = judge(adv)
  return out
