"""Unlearning metrics: the NeurIPS 2023 forget score, loss MIAs and LiRA.

* :func:`logit_confidence`, :func:`per_example_epsilon`, :func:`forget_score` and
  :func:`final_score` port the scoring of the NeurIPS 2023 Machine Unlearning
  competition (Triantafillou et al., 2024, "Are we making progress in unlearning?
  Findings from the first NeurIPS unlearning competition", arXiv:2406.09073; code:
  github.com/google-deepmind/unlearning_evaluation, ``metric.py`` and ``main.py``).
  Per forget example, the unlearned and retrained models' logit-scaled confidences
  are two samples; a family of threshold attacks gives (FPR, FNR) pairs and each
  pair an epsilon through the (epsilon, delta)-DP hypothesis-testing bound
  (Kairouz et al., 2015): ``FPR + e^eps FNR >= 1 - delta`` and vice versa.
* :func:`loss_mia` is the loss-based logistic-regression attack of SCRUB (Kurmanji
  et al., 2023, "Towards Unbounded Machine Unlearning"); :func:`mia_efficacy` is
  SalUn's MIA-efficacy (Fan et al., 2024, "SalUn", arXiv:2310.12508, after Jia et
  al., 2023, "Model Sparsity Can Simplify Machine Unlearning", arXiv:2304.04934).
* :func:`lira` / :func:`lira_offline` are the Gaussian likelihood-ratio attacks of
  Carlini et al. (2022), "Membership Inference Attacks From First Principles".
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

DELTA = 1e-5
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100
_BUFFER = 2.0  # the reference's margin of the double-threshold grid
_BUCKET = 0.5  # width of an epsilon bucket of the forget score
_PEAKY = 0.01  # range ratio below which a pair is scored EPSILON_CAP


class MetricError(ValueError):
  """An input to an unlearning metric has the wrong shape, type or value."""


def _finite(name: str, x, ndim: int | None = None, min_ndim: int = 0) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  if (ndim is not None and x.ndim != ndim) or x.ndim < min_ndim:
    raise MetricError(f"{name} has the wrong rank: shape {x.shape}")
  if not np.all(np.isfinite(x)):
    raise MetricError(f"{name} has non-finite values: {x[~np.isfinite(x)][:5]}")
  return x


def logit_confidence(logits, labels) -> np.ndarray:
  """The logit-scaled confidence ``log p_y - log(1 - p_y)`` of the true class.

  Computed stably as ``z_y - logsumexp(z_{-y})`` in float64 (the reference adds
  1e-45 inside both logs, which saturates near 103; this does not).

  Args:
    logits: ``[..., num_classes]`` finite logits, ``num_classes >= 2``.
    labels: ``[...]`` integer labels in ``[0, num_classes)``.

  Returns:
    ``[...]`` float64 confidences.
  """
  logits = _finite("logits", logits)
  labels = np.asarray(labels)
  if logits.ndim < 1 or logits.shape[-1] < 2:
    raise MetricError(f"logits must be [..., C] with C >= 2, got {logits.shape}")
  if labels.shape != logits.shape[:-1]:
    raise MetricError(f"labels shape {labels.shape} != {logits.shape[:-1]}")
  if not np.issubdtype(labels.dtype, np.integer):
    raise MetricError(f"labels must be integers, got dtype {labels.dtype}")
  num_classes = logits.shape[-1]
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    bad = labels[(labels < 0) | (labels >= num_classes)]
    raise MetricError(f"labels outside [0, {num_classes}): {bad[:5]}")
  true = np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
  others = np.where(np.arange(num_classes) == labels[..., None], -np.inf, logits)
  return true - special.logsumexp(others, axis=-1)


def _counts_in(sorted_x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
  inside = np.searchsorted(sorted_x, hi, "right") - np.searchsorted(sorted_x, lo)
  return np.maximum(inside, 0)


def _single_rates(pos, neg, per_unit):
  """(FPR, FNR) of ``c >= t -> positive`` over the reference's threshold grid."""
  lo = min(pos.min(), neg.min())
  hi = max(pos.max(), neg.max())
  t = np.linspace(lo, hi, int(math.ceil((hi - lo) * per_unit)))
  below_neg, below_pos = np.searchsorted(neg, t), np.searchsorted(pos, t)  # c < t
  return (neg.size - below_neg) / neg.size, below_pos / pos.size


def _double_rates(pos, neg, per_unit):
  """(FPR, FNR) of ``l <= c <= r -> peakier class`` over the reference's grid."""
  if pos.max() - pos.min() >= neg.max() - neg.min():
    pos, neg = neg, pos  # positive := the peakier sample (ties swap, as reference)
  width = pos.max() - pos.min()
  lo, hi = pos.min() + width - _BUFFER, pos.max() + _BUFFER
  right = np.linspace(lo, hi, int(math.ceil((hi - lo) * per_unit)))
  num_left = int(math.ceil(2 * _BUFFER * per_unit))
  # np.linspace(tr - width - B, tr - width + B, num_left) for every right tr.
  left = np.linspace(right - width - _BUFFER, right - width + _BUFFER, num_left, axis=1)
  left, right = left.reshape(-1), np.repeat(right, num_left)
  fpr = _counts_in(neg, left, right) / neg.size
  fnr = (pos.size - _counts_in(pos, left, right)) / pos.size
  return fpr, fnr


_FAMILIES = (_double_rates, _single_rates)


def _rule_epsilons(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
  """Per-rule epsilon: inf if perfect, nan (dropped) if only one rate is 0."""
  with np.errstate(divide="ignore", invalid="ignore"):
    eps = np.fmax(
      np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr)
    )
  eps = np.maximum(eps, 0.0)  # nan stays nan
  eps = np.where(fpr * fnr == 0, np.nan, eps)
  return np.where((fpr == 0) & (fnr == 0), np.inf, eps)


def _example_epsilon(pos, neg, index, delta, cap, per_unit) -> float:
  pos_range, neg_range = pos.max() - pos.min(), neg.max() - neg.min()
  largest, smallest = max(pos_range, neg_range), min(pos_range, neg_range)
  if largest == 0:  # both constant; the reference fails when they are equal
    return 0.0 if pos[0] == neg[0] else cap
  if smallest / largest < _PEAKY:
    return cap
  (fpr_d, fnr_d), (fpr_s, fnr_s) = (f(pos, neg, per_unit) for f in _FAMILIES)
  eps = _rule_epsilons(np.r_[fpr_d, fpr_s], np.r_[fnr_d, fnr_s], delta)
  eps = eps[~np.isnan(eps)]
  if eps.size == 0:
    raise MetricError(f"forget example {index}: every threshold rule was degenerate")
  return float(min(eps.max(), cap))


def per_example_epsilon(
  unlearned_confs,
  retrained_confs,
  *,
  delta: float = DELTA,
  epsilon_cap: float = EPSILON_CAP,
) -> np.ndarray:
  """The competition's empirical epsilon of each forget example.

  Conventions (``metric.py`` of google-deepmind/unlearning_evaluation): per example
  the positive sample is the one with the larger median (ties: unlearned). If the
  smaller value range is < 1 % of the larger, epsilon is the cap. Otherwise two
  rule families are scanned: single thresholds ``c >= t -> positive`` on
  ``linspace(min, max, ceil(100 * range))`` over both samples, and double
  thresholds ``l <= c <= r -> peakier sample`` (``p``, range ``w``; ties: the
  smaller-median one) with ``r`` on ``linspace(p_min + w - 2, p_max + 2, ceil(100 *
  (hi - lo)))`` (about 400) and 400 ``l`` per ``r`` on ``[r - w - 2, r - w + 2]``.
  A rule gives ``max(log((1 - delta - FPR) / FNR), log((1 - delta - FNR) / FPR))``
  clipped at 0; ``FPR = FNR = 0`` gives infinity; rules with exactly one zero rate
  are dropped. Epsilon is the max over rules, clipped to ``[0, epsilon_cap]``.
  Deviations: rates are exact float64 counts (the reference uses float32), and two
  constant samples score 0 if equal (the reference raises) and the cap otherwise.

  Args:
    unlearned_confs: ``[num_models, num_forget]`` confidences under unlearned models.
    retrained_confs: the same under retrained models.
    delta: the DP delta.
    epsilon_cap: the largest epsilon reported.

  Returns:
    ``[num_forget]`` float64 epsilons in ``[0, epsilon_cap]``.
  """
  u = _finite("unlearned_confs", unlearned_confs, ndim=2)
  r = _finite("retrained_confs", retrained_confs, ndim=2)
  if u.shape != r.shape:
    raise MetricError(f"unlearned_confs {u.shape} != retrained_confs {r.shape}")
  if u.shape[0] < 2 or u.shape[1] < 1:
    raise MetricError(f"need [num_models >= 2, num_forget >= 1], got {u.shape}")
  if not 0 < delta < 1:
    raise MetricError(f"delta must be in (0, 1), got {delta}")
  retrain_is_pos = np.median(r, axis=0) > np.median(u, axis=0)
  pos = np.sort(np.where(retrain_is_pos, r, u), axis=0)
  neg = np.sort(np.where(retrain_is_pos, u, r), axis=0)
  args = (delta, float(epsilon_cap), THRESHOLDS_PER_UNIT)
  return np.array(
    [_example_epsilon(pos[:, i], neg[:, i], i, *args) for i in range(u.shape[1])]
  )


def epsilon_points(epsilons, num_models: int) -> np.ndarray:
  """``2^-k`` for epsilon in bucket ``k``: ``[k / 2, (k + 1) / 2)``, or 0 past the last.

  The buckets stop at ``ceil(ln(num_models - 1))``, the reference's bound on a
  resolvable epsilon (so ``num_models = 2`` always scores 0).

  Args:
    epsilons: per-example epsilons, >= 0.
    num_models: models per sample.

  Returns:
    Points, same shape as ``epsilons``.
  """
  if num_models < 2:
    raise MetricError(f"num_models must be >= 2, got {num_models}")
  epsilons = np.asarray(epsilons, dtype=np.float64)
  num_buckets = int(2 * math.ceil(math.log(num_models - 1)))
  k = np.floor(epsilons / _BUCKET)
  return np.where(k < num_buckets, 0.5 ** np.minimum(k, num_buckets), 0.0)


def forget_score(
  unlearned_confs,
  retrained_confs,
  *,
  delta: float = DELTA,
  epsilon_cap: float = EPSILON_CAP,
) -> float:
  """The competition's forget quality F: mean bucket points of the epsilons.

  See :func:`per_example_epsilon` and :func:`epsilon_points`; F = 1 iff every
  forget example has epsilon < 0.5.

  Args:
    unlearned_confs: ``[num_models, num_forget]`` confidences under unlearned models.
    retrained_confs: the same under retrained models.
    delta: the DP delta.
    epsilon_cap: the largest epsilon.

  Returns:
    F in ``[0, 1]``.
  """
  eps = per_example_epsilon(
    unlearned_confs, retrained_confs, delta=delta, epsilon_cap=epsilon_cap
  )
  return float(np.mean(epsilon_points(eps, np.shape(unlearned_confs)[0])))


def final_score(
  forget_quality, retain_acc_u, retain_acc_r, test_acc_u, test_acc_r
) -> float:
  """``F * (RA_u / RA_r) * (TA_u / TA_r)``, accuracies averaged over models.

  Args:
    forget_quality: F from :func:`forget_score`.
    retain_acc_u: retain accuracy of the unlearned models (scalar or per model).
    retain_acc_r: retain accuracy of the retrained models.
    test_acc_u: test accuracy of the unlearned models.
    test_acc_r: test accuracy of the retrained models.

  Returns:
    The utility-adjusted score.
  """
  names = ("retain_acc_u", "retain_acc_r", "test_acc_u", "test_acc_r")
  accs = (retain_acc_u, retain_acc_r, test_acc_u, test_acc_r)
  ra_u, ra_r, ta_u, ta_r = (
    float(np.mean(_finite(name, acc))) for name, acc in zip(names, accs, strict=True)
  )
  if ra_r <= 0 or ta_r <= 0:
    raise MetricError(f"retrained accuracies must be > 0, got {ra_r}, {ta_r}")
  return float(forget_quality) * (ra_u / ra_r) * (ta_u / ta_r)


def _balanced(members, nonmembers, rng) -> tuple[np.ndarray, np.ndarray]:
  n = min(members.size, nonmembers.size)
  members = members[rng.permutation(members.size)[:n]]
  return members, nonmembers[rng.permutation(nonmembers.size)[:n]]


def loss_mia(member_losses, nonmember_losses, *, folds: int = 5, seed: int = 0):
  """SCRUB's loss MIA: cross-validated logistic regression on per-example loss.

  The larger set is subsampled (seeded) to the smaller; the attacker is a
  standardised 1-D logistic regression; members are the positive class.

  Args:
    member_losses: ``[n_m]`` losses of training (e.g. forget) examples.
    nonmember_losses: ``[n_n]`` losses of held-out examples.
    folds: stratified K-fold splits (shuffled with ``seed``).
    seed: subsampling and split seed.

  Returns:
    ``{"accuracy": mean fold accuracy, "auc": ROC AUC of out-of-fold scores}``.
  """
  m = _finite("member_losses", member_losses, ndim=1)
  n = _finite("nonmember_losses", nonmember_losses, ndim=1)
  if folds < 2 or min(m.size, n.size) < folds:
    raise MetricError(f"need folds >= 2 and >= folds per class, got {folds}")
  m, n = _balanced(m, n, np.random.default_rng(seed))
  x = np.concatenate([m, n])[:, None]
  y = np.concatenate([np.ones(m.size, int), np.zeros(n.size, int)])
  scores, accs = np.zeros(y.size), []
  cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
  for train, test in cv.split(x, y):
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[train], y[train])
    scores[test] = clf.decision_function(x[test])
    accs.append(np.mean(clf.predict(x[test]) == y[test]))
  return {"accuracy": float(np.mean(accs)), "auc": float(roc_auc_score(y, scores))}


def mia_efficacy(
  retain_losses, test_losses, forget_losses, *, seed: int = 0, attack: str = "svc"
) -> float:
  """SalUn's MIA-efficacy: the fraction of forget examples predicted non-member.

  An attacker is fit on retain (members) vs test (non-members), balanced by seeded
  subsampling, on the true-class confidence ``exp(-loss)`` (cross-entropy losses
  assumed); ``"svc"`` is SalUn's ``SVC(C=3, gamma="auto", kernel="rbf")``
  (``SVC_MIA_forget_efficacy["confidence"]``), ``"logistic"`` a standardised
  logistic regression. Higher is better unlearning.

  Args:
    retain_losses: ``[n_r]`` losses of retain examples.
    test_losses: ``[n_t]`` losses of test examples.
    forget_losses: ``[n_f]`` losses of forget examples.
    seed: subsampling seed.
    attack: ``"svc"`` or ``"logistic"``.

  Returns:
    MIA-efficacy in ``[0, 1]``.
  """
  r = _finite("retain_losses", retain_losses, ndim=1)
  t = _finite("test_losses", test_losses, ndim=1)
  f = _finite("forget_losses", forget_losses, ndim=1)
  if min(r.size, t.size, f.size) < 1:
    raise MetricError(f"empty loss set: sizes {r.size}, {t.size}, {f.size}")
  if attack == "svc":
    clf = SVC(C=3, gamma="auto", kernel="rbf")
  elif attack == "logistic":
    clf = make_pipeline(StandardScaler(), LogisticRegression())
  else:
    raise MetricError(f"attack must be 'svc' or 'logistic', got {attack!r}")
  r, t = _balanced(r, t, np.random.default_rng(seed))
  x = np.exp(-np.concatenate([r, t]))[:, None]
  clf.fit(x, np.concatenate([np.ones(r.size, int), np.zeros(t.size, int)]))
  return float(1.0 - np.mean(clf.predict(np.exp(-f)[:, None])))


def _gaussian(name, x, n: int, fix_variance: bool) -> tuple[np.ndarray, np.ndarray]:
  """Median and std (+1e-30) per example, or one std over all (reference code)."""
  x = _finite(name, x, ndim=2)
  need = 1 if fix_variance else 2
  if x.shape[1] != n or x.shape[0] < need:
    raise MetricError(f"{name} must be [>= {need}, {n}], got {x.shape}")
  std = np.std(x) if fix_variance else np.std(x, axis=0)
  return np.median(x, axis=0), std + 1e-30


def lira(
  target_confs, shadow_in_confs, shadow_out_confs, *, fix_variance: bool = False
) -> np.ndarray:
  """Online LiRA: ``log N(c; mu_in, s_in) - log N(c; mu_out, s_out)`` per example.

  As the reference (tensorflow/privacy ``research/mi_lira_2021/plot.py``,
  ``generate_ours``): means are medians over shadows, stds ``np.std``; with
  ``fix_variance`` each side uses one std over all its confidences (the reference
  reuses the IN std for OUT; here OUT uses its own).

  Args:
    target_confs: ``[..., n]`` logit-scaled confidences under the target model.
    shadow_in_confs: ``[num_in, n]`` under shadows trained on each example.
    shadow_out_confs: ``[num_out, n]`` under shadows not trained on it.
    fix_variance: one global variance per side instead of per example.

  Returns:
    ``[..., n]`` scores; higher = more likely a member.
  """
  c = _finite("target_confs", target_confs, min_ndim=1)
  mu_in, s_in = _gaussian("shadow_in_confs", shadow_in_confs, c.shape[-1], fix_variance)
  mu_out, s_out = _gaussian(
    "shadow_out_confs", shadow_out_confs, c.shape[-1], fix_variance
  )
  return stats.norm.logpdf(c, mu_in, s_in) - stats.norm.logpdf(c, mu_out, s_out)


def lira_offline(target_confs, shadow_out_confs, *, fix_variance=False) -> np.ndarray:
  """Offline LiRA: the paper's one-sided test against the OUT Gaussian.

  Carlini et al. (2022) score ``1 - Pr[Z > c]``, ``Z ~ N(mu_out, s_out^2)``; this
  returns the monotone equivalent ``-log Pr[Z > c]`` (``-norm.logsf``), which keeps
  resolution in the upper tail. (The released code instead scores the OUT density.)

  Args:
    target_confs: ``[..., n]`` logit-scaled confidences under the target model.
    shadow_out_confs: ``[num_out, n]`` under shadows not trained on each example.
    fix_variance: one global variance instead of per example.

  Returns:
    ``[..., n]`` scores; higher = more likely a member.
  """
  c = _finite("target_confs", target_confs, min_ndim=1)
  mu_out, s_out = _gaussian(
    "shadow_out_confs", shadow_out_confs, c.shape[-1], fix_variance
  )
  return -stats.norm.logsf(c, mu_out, s_out)
