"""Attacks: hand-derived answers on a linear model, budgets, determinism, and every
registered attack fooling a trained model without masking."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax import attacks
from audiojax.attacks import budget, checks

# A linear model: logits = x W, so the CE gradient w.r.t. x is W (softmax - onehot).
W = jnp.asarray(np.random.default_rng(0).normal(size=(16, 3)), jnp.float32)
X = jnp.asarray(np.random.default_rng(1).uniform(-0.9, 0.9, (5, 16)), jnp.float32)
Y = jnp.array([0, 1, 2, 0, 1])
linear = lambda x: x @ W


def _ce_gradient(x, y):
  p = jax.nn.softmax(linear(x))
  return (p - jax.nn.one_hot(y, 3)) @ W.T


def test_fgsm_and_one_step_pgd_are_the_hand_derived_step():
  eps = 0.05
  expected = jnp.clip(X + eps * jnp.sign(_ce_gradient(X, Y)), -1, 1)
  np.testing.assert_allclose(attacks.fgsm(linear, X, Y, eps=eps), expected, atol=1e-7)
  one = attacks.pgd(
    linear,
    X,
    Y,
    jax.random.key(0),
    eps=eps,
    step_size=eps,
    steps=1,
    random_start=False,
  )
  np.testing.assert_allclose(one, expected, atol=1e-7)
  g = _ce_gradient(X, Y)
  l2 = X + 0.3 * g / jnp.linalg.norm(g, axis=1, keepdims=True)
  np.testing.assert_allclose(
    attacks.fgsm(linear, X, Y, eps=0.3, norm="l2"), jnp.clip(l2, -1, 1), atol=1e-6
  )
  # Targeted: toward the target, i.e. against the gradient of its loss.
  target = jnp.array([2, 2, 0, 1, 0])
  toward = jnp.clip(X - eps * jnp.sign(_ce_gradient(X, target)), -1, 1)
  np.testing.assert_allclose(
    attacks.fgsm(linear, X, target, eps=eps, targeted=True), toward, atol=1e-7
  )


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_and_clipping_hold_for_scalar_and_per_example_budgets(norm):
  key = jax.random.key(3)
  x = jax.random.uniform(key, (6, 50), minval=-1, maxval=1)
  far = x + 5.0 * jax.random.normal(jax.random.fold_in(key, 1), x.shape)
  for eps in (0.1, jnp.linspace(0.05, 0.6, 6)):
    out = budget.constrain(x, far, eps, norm)
    delta = out - x
    size = jnp.max(jnp.abs(delta), 1) if norm == "linf" else budget.l2_norm(delta)
    assert jnp.all(size <= jnp.broadcast_to(eps, (6,)) * (1 + 1e-6))
    assert jnp.all(jnp.abs(out) <= 1.0)
  inside = x + budget.project(1e-3 * (far - x), 1.0, norm)
  np.testing.assert_allclose(
    budget.constrain(x, inside, 1.0, norm), jnp.clip(inside, -1, 1)
  )


def test_snr_budgets_give_the_asked_snr():
  x = X * jnp.arange(1, 6)[:, None] / 5
  radius = budget.snr_radius(x, 30.0)
  adv = attacks.fgsm(linear, x / 2, Y, eps=radius / 2, norm="l2")  # Inside [-1, 1].
  np.testing.assert_allclose(budget.snr_db(x / 2, adv), 30.0, atol=1e-3)


def test_pgd_is_deterministic_given_the_key_and_jits():
  run = jax.jit(
    functools.partial(attacks.pgd, linear, eps=0.05, step_size=0.01, steps=5)
  )
  a, b = run(X, Y, jax.random.key(7)), run(X, Y, jax.random.key(7))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, run(X, Y, jax.random.key(8)))
  batched = jax.vmap(lambda x, y: run(x[None], y[None], jax.random.key(7))[0])(X, Y)
  assert batched.shape == X.shape


def _norm_of(name):
  return "l2" if name == "cw_l2" else "linf"


@pytest.mark.parametrize("name", list(attacks.ATTACKS))
def test_every_attack_fools_the_trained_model_within_its_budget(name, tone_model):
  logits_fn, x, y = tone_model
  clean = float(jnp.mean(jnp.argmax(logits_fn(x), -1) == y))
  assert clean >= 0.9
  norm = _norm_of(name)
  eps = 0.05 if norm == "linf" else 0.05 * float(jnp.sqrt(x.shape[1]))
  kwargs = {"steps": 20} if name in ("apgd_ce", "apgd_dlr", "cw_l2") else {}
  adv = attacks.ATTACKS.get(name)(
    logits_fn, x, y, jax.random.key(0), eps=eps, norm=norm, **kwargs
  )
  delta = adv - x
  size = jnp.max(jnp.abs(delta), 1) if norm == "linf" else budget.l2_norm(delta)
  assert jnp.all(size <= eps * (1 + 1e-5)) and jnp.all(jnp.abs(adv) <= 1)
  robust = float(jnp.mean(jnp.argmax(logits_fn(adv), -1) == y))
  assert robust < clean, (name, clean, robust)
  # One gradient-sign step and a 16-probe black box flip a few clips of this model
  # (its log-mel decision is far from linear in the samples); iterative white-box
  # attacks flip most of them.
  if name not in ("fgsm", "spsa"):
    assert robust <= clean - 0.5, (name, clean, robust)


def test_apgd_is_not_weaker_than_pgd(tone_model):
  logits_fn, x, y = tone_model
  acc = lambda a: float(jnp.mean(jnp.argmax(logits_fn(a), -1) == y))
  eps = 0.01
  pgd_acc = acc(
    attacks.ATTACKS.get("pgd")(logits_fn, x, y, jax.random.key(1), eps=eps, norm="linf")
  )
  apgd_acc = acc(
    attacks.ATTACKS.get("apgd_ce")(
      logits_fn, x, y, jax.random.key(1), eps=eps, norm="linf", steps=10
    )
  )
  assert apgd_acc <= pgd_acc


def test_apgd_checkpoints_are_autoattacks():
  from audiojax.attacks.apgd import checkpoints

  assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_masking_checks_pass_for_the_undefended_model(tone_model):
  logits_fn, x, y = tone_model
  report = checks.masking_checks(logits_fn, x, y, jax.random.key(2), eps=0.01)
  assert report["passed"], report
  base, more = report["more_steps_not_weaker_values"]
  assert more <= base


def test_robust_accuracy_evaluator_streams_budgets_of_a_restored_run(classifier_run):
  from audiojax import evaluators
  from audiojax.train import restore

  run = restore(classifier_run[1])
  context = evaluators.Context.of(run)
  evals = {
    "pgd": dict(type="robust", attack="pgd", budgets=[0.0, 0.003, 0.03]),
    "snr": dict(
      type="robust", attack="fgsm", budgets=[60.0, 20.0], norm="l2", budget_kind="snr"
    ),
  }
  import ml_collections

  config = ml_collections.ConfigDict(
    {k: dict(v, split="train", batch_size=8, max_examples=12) for k, v in evals.items()}
  )
  out = {ev.name: ev.run(run.params) for ev in evaluators.build(config, context)}
  pgd = out["pgd"]
  assert pgd["count"] == 12
  acc = [pgd["robust_accuracy"][k] for k in ("0", "0.003", "0.03")]
  assert acc[0] == pgd["clean_accuracy"] > 0
  assert acc[0] >= acc[1] >= acc[2]
  assert out["snr"]["robust_accuracy"]["20"] <= out["snr"]["clean_accuracy"]
  with pytest.raises(ValueError, match="norm must be 'l2'"):
    evaluators.EVALUATORS.get("robust")(
      "x",
      context,
      split="train",
      batch_size=8,
      attack="pgd",
      budgets=[30.0],
      budget_kind="snr",
    )


def test_a_universal_perturbation_fools_unseen_clips_more_than_noise(tone_model):
  from audiojax.attacks import universal as U

  from .conftest import tones

  logits_fn, x_test, _ = tone_model
  x, y = (jnp.asarray(a) for a in tones(96, seed=2))  # Clips the test never sees.
  batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)]
  v = U.universal(logits_fn, batches, x.shape[1:], eps=0.05, step_size=0.01)
  assert float(jnp.max(jnp.abs(v))) <= 0.05 + 1e-7
  noise = U.random_like(jax.random.key(0), v, "linf")
  np.testing.assert_allclose(jnp.max(jnp.abs(noise)), jnp.max(jnp.abs(v)))
  fooled = float(U.fooling_rate(logits_fn, x_test, v))
  assert fooled > float(U.fooling_rate(logits_fn, x_test, noise)) + 0.1
  v2 = U.universal(logits_fn, batches, x.shape[1:], eps=2.0, step_size=0.5, norm="l2")
  assert float(budget.l2_norm(v2[None])[0]) <= 2.0 * (1 + 1e-6)
  l2_noise = U.random_like(jax.random.key(1), v2, "l2")
  np.testing.assert_allclose(
    budget.l2_norm(l2_noise[None]), budget.l2_norm(v2[None]), rtol=1e-5
  )
