"""Mislabel detection: synthetic label noise, out-of-fold probabilities, rankings.

Confident learning (Northcutt, Jiang & Chuang, 2021, "Confident learning: estimating
uncertainty in dataset labels", the method of ``cleanlab``) finds wrong labels from
out-of-sample class probabilities: every example is scored by a model that never saw
its label. Our own classifiers make those probabilities and this module ranks the
examples, most suspect first:

* :func:`inject_label_noise` flips an exact number of labels (symmetric, or to a
  fixed confusable partner class at per-class rates), the ground truth a detector is
  measured against.
* :func:`audiojax.anomaly.folds.out_of_fold_probs` makes the probabilities: K
  classifiers trained as one pytree by the shared loop, model k never seeing fold k.
* :data:`RANKERS` orders examples by suspicion (self-confidence, cleanlab's filters);
  :func:`evaluate` reports precision and recall at the true noise count.
* :func:`refit_weights` is confident learning's second pass (cleanlab's
  ``CleanLearning``): fold models retrained without the flagged examples give
  better probabilities to rank by.

Why a second pass: under symmetric noise at rate ``eta`` over ``K`` classes, a model
fit to the noisy labels estimates ``p(given | x) = (1 - eta) q + eta (1 - q) / (K - 1)``
with ``q`` the clean-class probability of the given label, and the posterior that a
label was flipped, ``eta (1 - q) / (K - 1) / p(given | x)``, falls as ``q`` rises: it
is a decreasing function of self-confidence alone. So with the same (calibrated)
probabilities no ranker beats self-confidence in expectation under uniform flips;
what can beat it is better probabilities, which a second pass may give by cleaning
the training folds.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import cleanlab.filter
import cleanlab.rank
import numpy as np
from sklearn.metrics import average_precision_score

from audiojax.registry import Registry


class MislabelError(ValueError):
  """An argument of label-noise injection or mislabel detection is invalid."""


def _check_num_classes(num_classes: int) -> None:
  if not isinstance(num_classes, numbers.Integral) or num_classes < 2:
    raise MislabelError(f"num_classes must be an int >= 2, got {num_classes!r}")


def check_labels(labels: Any, num_classes: int) -> np.ndarray:
  _check_num_classes(num_classes)
  labels = np.asarray(labels)
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
    raise MislabelError(
      f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}"
    )
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise MislabelError(
      f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]"
    )
  return labels


# ----------------------------------------------------------------------------------
# Label noise.


def class_partners(num_classes: int, seed: int) -> np.ndarray:
  """The confusable partner of every class for ``class_dependent`` noise.

  A random derangement (a permutation without fixed points) drawn from ``seed``, so
  every class has exactly one partner, never itself, and no two classes share one.

  Returns:
    ``partner[c]`` ``[num_classes]`` int.
  """
  _check_num_classes(num_classes)
  rng = np.random.default_rng((seed, 0))  # Its own stream: not the flips' one.
  while True:  # About e tries on average.
    perm = rng.permutation(num_classes)
    if np.all(perm != np.arange(num_classes)):
      return perm


def _symmetric(labels, num_classes, count, rng, seed):
  del seed
  idx = rng.choice(len(labels), size=count, replace=False)
  noisy = labels.copy()
  # A uniform draw over the K - 1 other classes.
  noisy[idx] = (labels[idx] + rng.integers(1, num_classes, size=count)) % num_classes
  return noisy, idx


def _class_dependent(labels, num_classes, count, rng, seed):
  partner = class_partners(num_classes, seed)
  # Per-class flip rates differ by up to 4x: example i is drawn with probability
  # proportional to its class's rate, without replacement, so the count is exact.
  class_rate = rng.uniform(0.25, 1.0, size=num_classes)
  weight = class_rate[labels]
  idx = rng.choice(len(labels), size=count, replace=False, p=weight / weight.sum())
  noisy = labels.copy()
  noisy[idx] = partner[labels[idx]]
  return noisy, idx


NOISE = Registry(
  "label noise kind", {"symmetric": _symmetric, "class_dependent": _class_dependent}
)


def inject_label_noise(
  labels: np.ndarray,
  num_classes: int,
  rate: float,
  seed: int,
  kind: str = "symmetric",
) -> tuple[np.ndarray, np.ndarray]:
  """Changes exactly ``round(rate * n)`` labels, chosen from ``seed``.

  Kinds (:data:`NOISE`):

  * ``symmetric``: the flipped examples are a uniform sample; each goes to a uniformly
    random other class.
  * ``class_dependent``: class ``c`` always goes to ``class_partners(K, seed)[c]``;
    each class gets a rate drawn from the seed (up to 4x apart), and examples are
    drawn with probability proportional to their class's rate, so the per-class flip
    rates differ while the total is exact.

  Args:
    labels: the clean labels ``[n]`` in ``[0, num_classes)`` (not modified).
    num_classes: ``K >= 2``.
    rate: the fraction of labels to change, in ``[0, 1)``; ``round`` is Python's
      (half to even).
    seed: of the ``numpy`` Generator that picks the examples and their new classes.
    kind: ``"symmetric"`` or ``"class_dependent"``.

  Returns:
    ``(noisy_labels, flipped_mask)``: the labels with the flips (same dtype), and
    ``[n]`` bool, True exactly where the label was changed.

  Raises:
    MislabelError: for a rate outside ``[0, 1)``, bad labels or ``num_classes``.
    UnknownNameError: for an unknown ``kind`` (also a ``ValueError``).
  """
  labels = check_labels(labels, num_classes)
  if (
    not isinstance(rate, numbers.Real)
    or not math.isfinite(rate)
    or not 0.0 <= rate < 1.0
  ):
    raise MislabelError(f"rate must be a number in [0, 1), got {rate!r}")
  if not isinstance(seed, numbers.Integral):
    raise MislabelError(f"seed must be an int, got {seed!r}")
  flip = NOISE.get(kind)
  count = round(rate * len(labels))
  noisy, idx = flip(labels, num_classes, count, np.random.default_rng(seed), seed)
  mask = np.zeros(len(labels), bool)
  mask[idx] = True
  return noisy, mask


# ----------------------------------------------------------------------------------
# Rankings and their evaluation.


def _check_probs(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, ...]:
  pred_probs = np.asarray(pred_probs, np.float64)
  if pred_probs.ndim != 2 or pred_probs.shape[0] != len(labels):
    raise MislabelError(
      f"pred_probs must be [n={len(labels)}, num_classes], got {pred_probs.shape}"
    )
  return check_labels(labels, pred_probs.shape[1]), pred_probs


def self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
  """``pred_probs[i, labels[i]]``: the model's belief in each given label."""
  labels, pred_probs = _check_probs(labels, pred_probs)
  return pred_probs[np.arange(len(labels)), labels]


def _by_self_confidence(labels, pred_probs):
  # Stable: ties keep index order, so the ranking is a pure function of its inputs.
  return np.argsort(self_confidence(labels, pred_probs), kind="stable")


def flag_issues(
  labels: np.ndarray, pred_probs: np.ndarray, filter_by: str
) -> np.ndarray:
  """The examples cleanlab's ``filter_by`` flags, most suspect first.

  ``cleanlab.filter.find_label_issues(..., return_indices_ranked_by=
  "self_confidence")`` with ``n_jobs=1``: its worker pool would ``fork`` a process
  that has JAX's threads running.

  Returns:
    Indices of the flagged examples, ascending in self-confidence.
  """
  labels, pred_probs = _check_probs(labels, pred_probs)
  return np.asarray(
    cleanlab.filter.find_label_issues(
      labels,
      pred_probs,
      filter_by=filter_by,
      return_indices_ranked_by="self_confidence",
      n_jobs=1,
    ),
    np.int64,
  )


def refit_weights(
  labels: np.ndarray, pred_probs: np.ndarray, filter_by: str = "prune_by_noise_rate"
) -> np.ndarray:
  """Training weights for the second pass: 0 for what ``filter_by`` flags, else 1.

  Args:
    labels: ``[n]`` the given labels.
    pred_probs: ``[n, num_classes]`` the first pass's out-of-fold probabilities.
    filter_by: a cleanlab filter (``"prune_by_noise_rate"``, ``"both"``, ...).

  Returns:
    ``[n]`` float32 in {0, 1}, for ``folds.out_of_fold_probs(..., weight=)``.
  """
  weight = np.ones(len(np.asarray(labels)), np.float32)
  weight[flag_issues(labels, pred_probs, filter_by)] = 0.0
  return weight


def _flagged_first(filter_by: str):
  def rank(labels, pred_probs):
    flagged = flag_issues(labels, pred_probs, filter_by)
    rest = _by_self_confidence(labels, pred_probs)
    return np.concatenate([flagged, rest[~np.isin(rest, flagged)]])

  return rank


def _by_normalized_margin(labels, pred_probs):
  labels, pred_probs = _check_probs(labels, pred_probs)
  score = cleanlab.rank.get_label_quality_scores(
    labels, pred_probs, method="normalized_margin"
  )
  return np.argsort(score, kind="stable")


# Each entry: ``(labels, pred_probs) -> ranking``, every index once, most suspect
# first. The cleanlab filters rank their flagged set first (by self-confidence),
# then the rest by self-confidence, so the ranking is complete and precision@k for
# k up to the flagged count is the precision of cleanlab's own set.
RANKERS: Registry[Callable[[np.ndarray, np.ndarray], np.ndarray]] = Registry(
  "mislabel ranker",
  {
    # The baseline: ascending p[given label].
    "self_confidence": _by_self_confidence,
    # Confident learning's default filter: per off-diagonal of the confident joint,
    # the examples most likely to belong to the other class.
    "cleanlab": _flagged_first("prune_by_noise_rate"),
    # Only what both prune_by_noise_rate and prune_by_class flag: fewer, surer.
    "cleanlab_both": _flagged_first("both"),
    # p[given] - max p[other]: better for class-conditional (swap) noise.
    "normalized_margin": _by_normalized_margin,
  },
)

# The rankers that flag a set, and their cleanlab filter.
FILTERS = {"cleanlab": "prune_by_noise_rate", "cleanlab_both": "both"}


def rank_issues(
  labels: np.ndarray, pred_probs: np.ndarray, method: str = "cleanlab"
) -> np.ndarray:
  """Every example index once, the most likely mislabelled first.

  Args:
    labels: ``[n]`` the given labels.
    pred_probs: ``[n, num_classes]`` out-of-sample probabilities
      (:func:`out_of_fold_probs`).
    method: a name in :data:`RANKERS`.

  Returns:
    ``[n]`` int64, a permutation of ``range(n)``.
  """
  return np.asarray(RANKERS.get(method)(labels, pred_probs), np.int64)


def _check_k(ranking: np.ndarray, flipped_mask: np.ndarray, k: int):
  ranking = np.asarray(ranking)
  flipped_mask = np.asarray(flipped_mask, bool)
  if not isinstance(k, numbers.Integral) or not 1 <= k <= len(ranking):
    raise MislabelError(f"k must be an int in [1, {len(ranking)}], got {k!r}")
  return int(np.count_nonzero(flipped_mask[ranking[:k]])), flipped_mask


def precision_at_k(ranking: np.ndarray, flipped_mask: np.ndarray, k: int) -> float:
  """The fraction of the ``k`` top-ranked examples that are truly mislabelled."""
  hits, _ = _check_k(ranking, flipped_mask, k)
  return hits / k


def recall_at_k(ranking: np.ndarray, flipped_mask: np.ndarray, k: int) -> float:
  """The fraction of the mislabelled examples among the ``k`` top-ranked."""
  hits, flipped_mask = _check_k(ranking, flipped_mask, k)
  total = int(np.count_nonzero(flipped_mask))
  if total == 0:
    raise MislabelError("recall is undefined without mislabelled examples")
  return hits / total


def evaluate(
  labels_noisy: np.ndarray, pred_probs: np.ndarray, flipped_mask: np.ndarray
) -> dict[str, float | int]:
  """How well every ranker finds the injected noise.

  ``k`` is the true noise count, so ``precision_at_k`` equals ``recall_at_k`` (both
  are hits / k); ``average_precision`` scores the whole ranking. For the cleanlab
  filters, ``flagged`` is how many examples the filter flags and
  ``flagged_precision`` / ``flagged_recall`` are those of that set.

  Returns:
    ``{"num_examples", "num_noisy", "k", "{method}_precision_at_k",
    "{method}_recall_at_k", "{method}_average_precision", "{filter}_flagged",
    "{filter}_flagged_precision", "{filter}_flagged_recall"}``.
  """
  labels_noisy, pred_probs = _check_probs(labels_noisy, pred_probs)
  flipped_mask = np.asarray(flipped_mask, bool)
  if flipped_mask.shape != labels_noisy.shape:
    raise MislabelError(
      f"flipped_mask {flipped_mask.shape} does not match labels {labels_noisy.shape}"
    )
  k = int(np.count_nonzero(flipped_mask))
  if k == 0:
    raise MislabelError("no label is flipped: precision at the noise count is 0/0")
  n = len(labels_noisy)
  out: dict[str, float | int] = {"num_examples": n, "num_noisy": k, "k": k}
  for method in RANKERS:
    ranking = rank_issues(labels_noisy, pred_probs, method)
    position = np.empty(n)
    position[ranking] = np.arange(n)
    out[f"{method}_precision_at_k"] = precision_at_k(ranking, flipped_mask, k)
    out[f"{method}_recall_at_k"] = recall_at_k(ranking, flipped_mask, k)
    out[f"{method}_average_precision"] = float(
      average_precision_score(flipped_mask, -position)
    )
  for method, filter_by in FILTERS.items():
    flagged = flag_issues(labels_noisy, pred_probs, filter_by)
    hits = int(np.count_nonzero(flipped_mask[flagged]))
    out[f"{method}_flagged"] = len(flagged)
    out[f"{method}_flagged_precision"] = hits / len(flagged) if len(flagged) else 0.0
    out[f"{method}_flagged_recall"] = hits / k
  return out
