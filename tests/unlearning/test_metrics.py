"""Tests of the unlearning metrics: NeurIPS 2023 forget score, loss MIAs, LiRA."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from audiojax.unlearning import metrics


def test_logit_confidence_matches_direct_float64():
  rng = np.random.default_rng(0)
  logits = rng.normal(scale=3.0, size=(3, 5, 7))
  labels = rng.integers(0, 7, size=(3, 5))
  p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  p_y = np.take_along_axis(p, labels[..., None], -1)[..., 0]
  expected = np.log(p_y) - np.log(1 - p_y)
  got = metrics.logit_confidence(logits, labels)
  assert got.shape == (3, 5)
  np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_logit_confidence_is_stable_at_huge_logits():
  logits = np.array([[100.0, -100.0, 0.0], [100.0, -100.0, 0.0]])
  got = metrics.logit_confidence(logits, np.array([0, 1]))
  # z_y - logsumexp(others): 100 - log(e^-100 + 1) and -100 - log(e^100 + 1).
  np.testing.assert_allclose(got, [100.0 - np.log1p(np.exp(-100.0)), -200.0])
  assert np.all(np.isfinite(metrics.logit_confidence(1e4 * logits, np.array([0, 2]))))


def test_logit_confidence_rejects_bad_labels():
  with pytest.raises(metrics.MetricError, match="outside"):
    metrics.logit_confidence(np.zeros((2, 3)), np.array([0, 3]))
  with pytest.raises(metrics.MetricError, match="shape"):
    metrics.logit_confidence(np.zeros((2, 3)), np.array([0]))


def test_identical_samples_give_zero_epsilon_and_full_score():
  rng = np.random.default_rng(1)
  confs = rng.normal(size=(64, 5)) * np.array([0.5, 1.0, 2.0, 3.0, 0.1])
  eps = metrics.per_example_epsilon(confs, confs.copy())
  np.testing.assert_array_equal(eps, np.zeros(5))
  assert metrics.forget_score(confs, confs.copy()) == 1.0


def test_hand_computed_epsilon_and_score():
  # One example, 10 models: unlearned = 0..9, retrained = 5..14 (medians 4.5 and
  # 9.5, so retrained is the positive sample; equal ranges, so not "peaky").
  # Single threshold t in (5, 6]: TPR = |{6..14}| / 10 = 0.9 -> FNR = 0.1,
  # FPR = |{6..9}| / 10 = 0.4; eps = log((1 - d - 0.4) / 0.1) = log((0.6 - d) / 0.1).
  # t in (8, 9]: FNR = 0.4, FPR = 0.1 gives the same value by symmetry; every other
  # single threshold or interval (enumerated below) gives less.
  delta = 1e-5
  unlearned = np.arange(10.0)
  retrained = np.arange(5.0, 15.0)
  expected = math.log((0.6 - delta) / 0.1)

  def rule_eps(fpr, fnr):
    if fpr == 0 or fnr == 0:
      return -np.inf  # dropped by the reference (no perfect separation here)
    # A term whose numerator 1 - delta - rate is <= 0 is nan in the reference.
    terms = [(1 - delta - fpr) / fnr, (1 - delta - fnr) / fpr]
    return max([0.0] + [math.log(x) for x in terms if x > 0])

  best = -np.inf
  for t in np.arange(-0.5, 15.0, 1.0):  # c >= t -> retrained
    best = max(best, rule_eps(np.mean(unlearned >= t), np.mean(retrained < t)))
  for lo in np.arange(-0.5, 15.0, 1.0):  # lo <= c <= hi -> unlearned
    for hi in np.arange(lo + 1.0, 15.0, 1.0):
      inside_u = np.mean((unlearned >= lo) & (unlearned <= hi))
      inside_r = np.mean((retrained >= lo) & (retrained <= hi))
      best = max(best, rule_eps(inside_r, 1.0 - inside_u))
  assert best == pytest.approx(expected, abs=1e-12)

  # Second example: identical samples, epsilon 0.
  u = np.stack([unlearned, unlearned], axis=1)
  r = np.stack([retrained, unlearned], axis=1)
  eps = metrics.per_example_epsilon(u, r, delta=delta)
  np.testing.assert_allclose(eps, [expected, 0.0], atol=1e-12)
  # ceil(ln 9) = 3 -> 6 buckets; 1.79 is in [1.5, 2) -> bucket 3 -> 1/8 points.
  assert metrics.forget_score(u, r, delta=delta) == pytest.approx((0.125 + 1.0) / 2)


def test_epsilon_points_buckets():
  # 512 models: ceil(ln 511) = 7 -> buckets [0, .5), ..., [6.5, 7), then 0 points.
  eps = np.array([0.0, 0.49, 0.5, 1.2, 6.99, 7.0, 50.0])
  np.testing.assert_array_equal(
    metrics.epsilon_points(eps, 512), [1.0, 1.0, 0.5, 0.25, 2.0**-13, 0.0, 0.0]
  )
  assert metrics.epsilon_points(np.array([0.0]), 2)[0] == 0.0  # ln(1) = 0 buckets


def test_shifted_distributions_score_lower():
  # Independent samples of one distribution still give eps ~ log(k) from tail
  # thresholds with a few models each (as the reference does), so "near" is not 1.
  rng = np.random.default_rng(2)
  retrained = rng.normal(size=(256, 8))
  far_u = rng.normal(3.0, 1.0, size=(256, 8))
  near_u = rng.normal(0.1, 1.0, size=(256, 8))
  eps_far = metrics.per_example_epsilon(far_u, retrained)
  eps_near = metrics.per_example_epsilon(near_u, retrained)
  assert np.all(eps_far > 4.0)
  assert np.all(eps_near < 3.0)
  far = metrics.forget_score(far_u, retrained)
  near = metrics.forget_score(near_u, retrained)
  assert far == pytest.approx(np.mean(metrics.epsilon_points(eps_far, 256)))
  assert 10 * far < near


def test_peaky_retrained_gives_cap_and_zero_points():
  rng = np.random.default_rng(3)
  unlearned = rng.normal(size=(64, 2))
  retrained = np.stack([np.full(64, 0.2), rng.normal(size=64)], axis=1)
  retrained[:, 0] += 1e-9 * rng.normal(size=64)
  eps = metrics.per_example_epsilon(unlearned, retrained)
  assert eps[0] == 50.0
  assert eps[1] < 5.0
  points = metrics.epsilon_points(eps, 64)
  assert points[0] == 0.0
  assert metrics.forget_score(unlearned, retrained) == pytest.approx(points[1] / 2)


def test_perfect_separation_is_capped():
  rng = np.random.default_rng(4)
  unlearned = rng.normal(size=(32, 3))
  retrained = rng.normal(100.0, 1.0, size=(32, 3))
  np.testing.assert_array_equal(metrics.per_example_epsilon(unlearned, retrained), 50)
  assert metrics.per_example_epsilon(unlearned, retrained, epsilon_cap=7)[0] == 7.0
  assert metrics.forget_score(unlearned, retrained) == 0.0


def test_forget_score_validates_inputs():
  x = np.zeros((4, 3))
  with pytest.raises(metrics.MetricError, match="!="):
    metrics.forget_score(x, np.zeros((4, 2)))
  with pytest.raises(metrics.MetricError, match="rank"):
    metrics.forget_score(x[0], x[0])
  with pytest.raises(metrics.MetricError, match="num_models"):
    metrics.forget_score(x[:1], x[:1])
  with pytest.raises(metrics.MetricError, match="non-finite"):
    metrics.forget_score(np.full((4, 3), np.nan), x)


def test_final_score_multiplies_utility_ratios():
  got = metrics.final_score(0.5, [0.9, 0.9], 1.0, 0.8, [0.9, 0.9])
  assert got == pytest.approx(0.5 * 0.9 * (0.8 / 0.9))
  with pytest.raises(metrics.MetricError, match="> 0"):
    metrics.final_score(0.5, 0.9, 0.0, 0.8, 0.9)


def test_loss_mia_separates_and_is_deterministic():
  rng = np.random.default_rng(5)
  members = np.abs(rng.normal(0.0, 0.2, size=800))
  nonmembers = rng.normal(2.0, 0.5, size=1000)
  result = metrics.loss_mia(members, nonmembers, seed=3)
  assert result["auc"] > 0.9
  assert result["accuracy"] > 0.8
  assert metrics.loss_mia(members, nonmembers, seed=3) == result


def test_loss_mia_chance_on_identical_distributions():
  rng = np.random.default_rng(6)
  result = metrics.loss_mia(rng.exponential(size=1000), rng.exponential(size=1200))
  assert abs(result["auc"] - 0.5) < 0.1
  assert abs(result["accuracy"] - 0.5) < 0.1


@pytest.mark.parametrize("attack", ["svc", "logistic"])
def test_mia_efficacy(attack):
  rng = np.random.default_rng(7)
  retain = np.abs(rng.normal(0.0, 0.05, size=600))
  test = rng.normal(2.0, 0.5, size=500).clip(0.0)
  like_test = rng.normal(2.0, 0.5, size=300).clip(0.0)
  like_retain = np.abs(rng.normal(0.0, 0.05, size=300))
  assert metrics.mia_efficacy(retain, test, like_test, attack=attack) > 0.8
  assert metrics.mia_efficacy(retain, test, like_retain, attack=attack) < 0.2
  with pytest.raises(metrics.MetricError, match="attack"):
    metrics.mia_efficacy(retain, test, like_test, attack="knn")


def _lira_data(n=2000, shadows=16, shift=3.0, spread=3.0, seed=8):
  rng = np.random.default_rng(seed)
  mu = rng.normal(0.0, spread, size=n)  # per-example OUT mean
  shadow_in = rng.normal(mu + shift, 1.0, size=(shadows, n))
  shadow_out = rng.normal(mu, 1.0, size=(shadows, n))
  member = rng.random(n) < 0.5
  target = rng.normal(mu + shift * member, 1.0)
  return target, shadow_in, shadow_out, member


def test_lira_online_and_offline_auc():
  target, shadow_in, shadow_out, member = _lira_data()
  online = metrics.lira(target, shadow_in, shadow_out)
  offline = metrics.lira_offline(target, shadow_out)
  assert online.shape == offline.shape == target.shape
  assert roc_auc_score(member, online) > 0.9
  assert roc_auc_score(member, offline) > 0.9
  # Ignoring the per-example means (a global threshold on c) is much weaker.
  assert roc_auc_score(member, target) < 0.8


def test_lira_fixed_variance_with_few_shadows():
  target, shadow_in, shadow_out, member = _lira_data(shadows=2, spread=0.3)
  online = metrics.lira(target, shadow_in, shadow_out, fix_variance=True)
  offline = metrics.lira_offline(target, shadow_out[:1], fix_variance=True)
  assert roc_auc_score(member, online) > 0.9
  assert roc_auc_score(member, offline) > 0.9
  with pytest.raises(metrics.MetricError, match="shadow_out_confs"):
    metrics.lira_offline(target, shadow_out[:1])
