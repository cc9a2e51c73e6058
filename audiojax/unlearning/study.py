"""One unlearning study: every method over seeds, measured against retraining.

The table the unlearning literature reports (SalUn's layout: forget, retain and test
accuracy, membership inference, run time) plus the NeurIPS 2023 forget score, for
any classifier whose data fit in memory. Both experiments (the ECG patients and the
embedded music set) call :func:`run_study`; nothing here knows which data it has.

Per method, ``seeds`` runs start from the same original params with keys
``fold_in(key, seed)`` (the challenge's protocol); retraining draws ``seeds``
fresh models. Accuracies and attacks are averaged over the runs; the forget score
compares the runs' logit-scaled confidences on each forget example with the
retrained models'. ``seconds`` is the median wall time of a run after the first
(whose extra compile time is not the method's cost), so a deterministic
method's ``seconds`` still counts its tracing; ``seconds_vs_retrain`` divides by
retraining's.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from audiojax.unlearning import metrics
from audiojax.unlearning.base import unlearn

Data = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Sets:
  """The data of a study.

  Attributes:
    retain: what the original was trained on and keeps.
    forget: what it was trained on and must forget.
    test: held-out data of the task (test accuracy).
    heldout: non-members from the forget set's distribution (the membership
      attack's negatives: e.g. the same patient's later beats, or test clips).
    extra: more sets whose accuracy is reported (``{name}_acc``).
  """

  retain: Data
  forget: Data
  test: Data
  heldout: Data
  extra: Mapping[str, Data] = dataclasses.field(default_factory=dict)


@functools.cache
def _jitted_apply(apply_fn):
  return jax.jit(lambda p, x: apply_fn(p, x))


def logits_of(apply_fn, params, audio: np.ndarray, batch_size: int) -> np.ndarray:
  """``apply_fn(params, audio)`` in eval mode, in batches (one jitted function per
  ``apply_fn``, the params an argument: every model of a study shares it)."""
  fn = _jitted_apply(apply_fn)
  out = [
    np.asarray(fn(params, audio[i : i + batch_size]))
    for i in range(0, len(audio), batch_size)
  ]
  return np.concatenate(out).astype(np.float64)


def losses_of(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
  return np.asarray(
    optax.softmax_cross_entropy_with_integer_labels(
      jnp.asarray(logits), jnp.asarray(labels)
    )
  )


def measure(
  apply_fn: Callable[..., jax.Array],
  params: Any,
  sets: Sets,
  *,
  batch_size: int,
  seed: int,
  extra_fn: Callable[[Any], dict[str, float]] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
  """One model's row and its forget-set confidences.

  Returns:
    ``({forget_acc, retain_acc, test_acc, heldout_acc, <extra>_acc, mia_auc,
    mia_acc, mia_efficacy, ...extra_fn}, logit confidences [num_forget])``.
  """
  out, loss = {}, {}
  named = {
    "forget": sets.forget,
    "retain": sets.retain,
    "test": sets.test,
    "heldout": sets.heldout,
    **sets.extra,
  }
  for name, data in named.items():
    logits = logits_of(apply_fn, params, data["audio"], batch_size)
    out[f"{name}_acc"] = float(np.mean(np.argmax(logits, -1) == data["label"]))
    loss[name] = losses_of(logits, data["label"])
    if name == "forget":
      confs = metrics.logit_confidence(logits, data["label"])
  folds = min(5, len(loss["forget"]), len(loss["heldout"]))
  if folds < 2:
    raise metrics.MetricError(
      f"membership inference needs 2 forget and 2 held-out examples, got "
      f"{len(loss['forget'])} and {len(loss['heldout'])}"
    )
  mia = metrics.loss_mia(loss["forget"], loss["heldout"], folds=folds, seed=seed)
  out["mia_auc"], out["mia_acc"] = mia["auc"], mia["accuracy"]
  out["mia_efficacy"] = metrics.mia_efficacy(
    loss["retain"], loss["test"], loss["forget"], seed=seed
  )
  if extra_fn is not None:
    out.update(extra_fn(params))
  return out, confs


def run_method(
  name: str,
  params: Any,
  apply_fn: Callable[..., jax.Array],
  sets: Sets,
  key: jax.Array,
  *,
  seeds: int,
  options: Mapping[str, Any],
  batch_size: int,
  extra_fn: Callable[[Any], dict[str, float]] | None = None,
) -> dict[str, Any]:
  """``seeds`` runs of one method: per-seed rows, confidences and wall times."""
  rows, confs, seconds, models = [], [], [], []
  for s in range(seeds):
    start = time.perf_counter()
    new = unlearn(
      name,
      params,
      apply_fn,
      sets.retain,
      sets.forget,
      jax.random.fold_in(key, s),
      **options,
    )
    jax.block_until_ready(new)
    seconds.append(time.perf_counter() - start)
    row, conf = measure(
      apply_fn, new, sets, batch_size=batch_size, seed=s, extra_fn=extra_fn
    )
    rows.append(row)
    confs.append(conf)
    models.append(new)
    logging.info("unlearning %s seed %d: %.1f s %s", name, s, seconds[-1], row)
  return {
    "rows": rows,
    "confs": np.stack(confs),
    "seconds": seconds,
    "all_params": models,
  }


def summarise(run: Mapping[str, Any], retrain: Mapping[str, Any]) -> dict[str, float]:
  """A method's table row: means over seeds, the forget score and its time."""
  keys = run["rows"][0].keys()
  row = {k: float(np.mean([r[k] for r in run["rows"]])) for k in keys}
  if len(run["rows"]) > 1:
    row["mia_auc_std"] = float(np.std([r["mia_auc"] for r in run["rows"]]))
  times = run["seconds"][1:] or run["seconds"]
  row["seconds"] = float(np.median(times))
  r_times = retrain["seconds"][1:] or retrain["seconds"]
  row["seconds_vs_retrain"] = row["seconds"] / float(np.median(r_times))
  # With 2 models the score has no bucket (it is 0 for any method); below that
  # the challenge's rule family is empty.
  if min(run["confs"].shape[0], retrain["confs"].shape[0]) >= 3:
    try:
      f = metrics.forget_score(run["confs"], retrain["confs"])
    except metrics.MetricError as e:
      logging.warning("no forget score: %s", e)
      return row
    r_rows = retrain["rows"]
    row["forget_quality"] = f
    row["forget_score"] = metrics.final_score(
      f,
      [r["retain_acc"] for r in run["rows"]],
      [r["retain_acc"] for r in r_rows],
      [r["test_acc"] for r in run["rows"]],
      [r["test_acc"] for r in r_rows],
    )
  return row


def run_study(
  params: Any,
  apply_fn: Callable[..., jax.Array],
  sets: Sets,
  key: jax.Array,
  *,
  methods: Mapping[str, Mapping[str, Any]],
  retrain: Mapping[str, Any] | None = None,
  seeds: int,
  batch_size: int,
  extra_fn: Callable[[Any], dict[str, float]] | None = None,
) -> dict[str, Any]:
  """Every method of ``methods`` (name -> options) against ``retrain``.

  Args:
    params: the original (trained on retain ∪ forget).
    apply_fn: its ``apply``.
    sets: the study's data.
    key: the study's randomness (one ``fold_in`` per method and seed).
    methods: the approximate methods and their options.
    retrain: the retraining run's result (:func:`run_method` of ``"retrain"``),
      when it was computed once for several studies; else ``methods`` must hold
      ``"retrain"``.
    seeds: runs per method.
    batch_size: for evaluation.
    extra_fn: ``params -> {metric: value}`` added to every row (e.g. an attack).

  Returns:
    ``{"methods": {name: row}, "original": row, "runs": {name: run}}`` (a run
    holds every seed's params, ``all_params``); the ``retrain`` row is in
    ``methods``.
  """
  runs = {}
  if retrain is None:
    retrain = run_method(
      "retrain",
      params,
      apply_fn,
      sets,
      jax.random.fold_in(key, 0),
      seeds=seeds,
      options=methods["retrain"],
      batch_size=batch_size,
      extra_fn=extra_fn,
    )
  runs["retrain"] = retrain
  for i, (name, options) in enumerate(methods.items()):
    if name == "retrain":
      continue
    runs[name] = run_method(
      name,
      params,
      apply_fn,
      sets,
      jax.random.fold_in(key, i + 1),
      seeds=seeds,
      options=options,
      batch_size=batch_size,
      extra_fn=extra_fn,
    )
  original, _ = measure(
    apply_fn, params, sets, batch_size=batch_size, seed=0, extra_fn=extra_fn
  )
  table = {name: summarise(run, retrain) for name, run in runs.items()}
  return {"methods": table, "original": original, "runs": runs}
