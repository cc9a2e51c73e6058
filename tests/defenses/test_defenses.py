"""Defenses: adversarial training losses of the shared loop, input transforms."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax import frontends
from audiojax.attacks import budget, eot, pgd
from audiojax.defenses import training, transforms
from audiojax.models import MODELS
from audiojax.models.classifier import WaveformClassifier
from audiojax.train import losses

SR, SAMPLES = 8000, 2048
TONES = (500.0, 560.0, 630.0)
EPS = 0.05
ADV = dict(
  method="none",
  eps=EPS,
  norm="linf",
  budget="eps",
  steps=3,
  rel_step=0.5,
  adv_weight=1.0,
  beta=6.0,
)


def tones(n, seed):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, len(TONES), n)
  t = np.arange(SAMPLES) / SR
  f = np.asarray(TONES)[y, None] * rng.uniform(0.97, 1.03, (n, 1))
  x = rng.uniform(0.2, 0.5, (n, 1)) * np.sin(
    2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (n, 1))
  )
  return jnp.asarray(x + 0.01 * rng.normal(size=x.shape), jnp.float32), jnp.asarray(y)


@functools.cache
def _model():
  frontend = frontends.FRONTENDS.get("mel")(SR, n_fft=256, hop_length=128, n_mels=32)
  return WaveformClassifier(frontend, MODELS.get("mel_cnn_tiny")(num_classes=3))


@functools.cache
def _trained(method: str):
  """Params trained 80 Adam steps with ``method``'s loss, and the test clips."""
  model = _model()
  x, y = tones(96, seed=0)
  loss_fn = training.training_loss(model.apply, {**ADV, "method": method})
  params = model.init(jax.random.key(0), x[:1])
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, opt_state, key):
    grads, _ = jax.grad(loss_fn, has_aux=True)(params, {"audio": x, "label": y}, key)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state

  opt_state = tx.init(params)
  for i in range(80):
    params, opt_state = step(params, opt_state, jax.random.key(i))
  return params


def _robust_accuracy(params, eps):
  x, y = tones(48, seed=1)
  logits_fn = jax.jit(lambda v: _model().apply(params, v))
  clean = float(jnp.mean(jnp.argmax(logits_fn(x), -1) == y))
  adv = pgd(logits_fn, x, y, jax.random.key(1), eps=eps, step_size=eps / 4, steps=10)
  return clean, float(jnp.mean(jnp.argmax(logits_fn(adv), -1) == y))


def test_method_none_is_the_plain_classification_loss():
  model = _model()
  x, y = tones(4, seed=2)
  params = model.init(jax.random.key(0), x[:1])
  batch, key = {"audio": x, "label": y}, jax.random.key(3)
  a, _ = training.training_loss(model.apply, ADV)(params, batch, key)
  b, _ = losses.classification_loss(model.apply)(params, batch, key)
  assert float(a) == float(b)


@pytest.mark.parametrize("method", sorted(training.TRAINING))
def test_adversarial_training_raises_robust_accuracy_at_its_eps(method):
  clean_std, robust_std = _robust_accuracy(_trained("none"), EPS)
  clean_adv, robust_adv = _robust_accuracy(_trained(method), EPS)
  assert clean_std >= 0.9  # The task is learnt without a defense...
  assert robust_std <= 0.5  # ...and PGD breaks it at this eps,
  assert robust_adv >= robust_std + 0.25, (method, robust_std, robust_adv)
  assert clean_adv >= 0.6, (method, clean_adv)


def test_weights_and_mixing_follow_the_loss_contract():
  model = _model()
  x, y = tones(4, seed=2)
  params = model.init(jax.random.key(0), x[:1])
  key = jax.random.key(3)
  loss_fn = training.training_loss(model.apply, {**ADV, "method": "pgd"})
  full, _ = loss_fn(params, {"audio": x, "label": y}, key)
  w = jnp.array([1.0, 1.0, 0.0, 0.0])
  # Dropping examples by weight 0 is the loss of the remaining ones alone, whose
  # attack (per example) is unchanged.
  half, _ = loss_fn(params, {"audio": x, "label": y, "weight": w}, key)
  assert np.isfinite(float(full)) and np.isfinite(float(half))
  mixed = training.training_loss(
    model.apply, {**ADV, "method": "pgd", "adv_weight": 0.5}
  )
  _, metrics = mixed(params, {"audio": x, "label": y}, key)
  assert set(metrics) == {"accuracy", "adv_accuracy"}
  with pytest.raises(ValueError, match="adv_weight"):
    training.training_loss(model.apply, {**ADV, "method": "pgd", "adv_weight": 0.0})
  with pytest.raises(ValueError, match="eps > 0"):
    training.training_loss(model.apply, {**ADV, "method": "trades", "eps": 0.0})
  with pytest.raises(KeyError, match="adversarial training method"):
    training.training_loss(model.apply, {**ADV, "method": "free"})


def test_snr_budget_trains_at_each_clips_radius():
  model = _model()
  x, y = tones(4, seed=2)
  params = model.init(jax.random.key(0), x[:1])
  cfg = {**ADV, "method": "fgsm_rs", "eps": 30.0, "norm": "l2", "budget": "snr"}
  loss, _ = training.training_loss(model.apply, cfg)(
    params, {"audio": x, "label": y}, jax.random.key(0)
  )
  assert np.isfinite(float(loss))
  with pytest.raises(ValueError, match="SNR budget"):
    training.training_loss(model.apply, {**cfg, "norm": "linf"})


def _transform(name, **kw):
  return transforms.TRANSFORMS.get(name)(SR, **kw)


def test_quantize_rounds_forward_and_passes_gradients_straight_through():
  t = _transform("quantize", bits=4)
  x = jnp.linspace(-0.9, 0.9, 64)[None]
  out = t.fn(x, jax.random.key(0))
  np.testing.assert_allclose(out * 8, jnp.round(out * 8), atol=1e-6)
  g = jax.grad(lambda v: jnp.sum(t.fn(v, None) * 3.0))(x)
  np.testing.assert_allclose(g, 3.0)
  assert (t.random, t.gradient) == (False, "bpda")


def test_lowpass_removes_the_band_above_its_cutoff_exactly():
  t = _transform("lowpass", cutoff_hz=1000.0)
  n = np.arange(SAMPLES)
  low = np.sin(2 * np.pi * 250 * n / SR)  # Whole periods in the clip: no leakage.
  high = np.sin(2 * np.pi * 2000 * n / SR)
  out = np.asarray(t.fn(jnp.asarray([low + high], jnp.float32), None))[0]
  np.testing.assert_allclose(out, low, atol=1e-4)
  with pytest.raises(ValueError, match="cutoff_hz"):
    _transform("lowpass", cutoff_hz=SR)


def test_noise_hits_its_snr_and_depends_on_the_key():
  t = _transform("noise", snr_db=20.0)
  x, _ = tones(3, seed=4)
  a, b = t.fn(x, jax.random.key(0)), t.fn(x, jax.random.key(1))
  np.testing.assert_allclose(budget.snr_db(x, a), 20.0, atol=1e-3)
  assert not np.allclose(a, b) and t.random


def test_blur_gives_each_clip_its_own_unit_gain_low_pass_from_the_key():
  t = _transform("blur", kernel_size=9, blur=1.0)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(-0.5, 0.5, (4, SAMPLES)), jnp.float32)
  a, b = np.asarray(t.fn(x, jax.random.key(0))), np.asarray(t.fn(x, jax.random.key(1)))
  assert not np.allclose(a, b) and t.random and t.gradient == "exact"
  np.testing.assert_array_equal(a, np.asarray(t.fn(x, jax.random.key(0))))
  spectrum = lambda v: np.abs(np.fft.rfft(np.asarray(v), axis=-1))
  top, low = slice(SAMPLES // 4, None), slice(1, SAMPLES // 200)
  assert np.all(spectrum(a)[:, top].sum(1) < 0.6 * spectrum(x)[:, top].sum(1))
  np.testing.assert_allclose(  # unit gain near 0 Hz
    spectrum(a)[:, low].sum(1), spectrum(x)[:, low].sum(1), rtol=0.02
  )
  # Clips differ in their filter: the same clip twice comes out two ways.
  same = jnp.stack([x[0], x[0]])
  twice = np.asarray(t.fn(same, jax.random.key(2)))
  assert not np.allclose(twice[0], twice[1])


def test_codec_transform_is_the_codec_with_a_straight_through_gradient():
  t = _transform("codec", codec="mp3_64")
  x, _ = tones(2, seed=5)
  out = t.fn(x, None)
  assert out.shape == x.shape and 10 < float(jnp.min(budget.snr_db(x, out))) < 80
  g = jax.grad(lambda v: jnp.sum(t.fn(v, None)))(x)
  np.testing.assert_allclose(g, 1.0)


def test_adaptive_eot_attack_beats_the_static_one_on_a_noise_defense():
  params = _trained("none")
  logits_fn = jax.jit(lambda v: _model().apply(params, v))
  t = _transform("noise", snr_db=10.0)
  x, y = tones(48, seed=1)
  key = jax.random.key(7)

  def defended_accuracy(v):
    keys = jax.random.split(key, 4)
    return np.mean([np.mean(np.argmax(logits_fn(t.fn(v, k)), -1) == y) for k in keys])

  static = pgd(logits_fn, x, y, key, eps=0.01, step_size=0.0025, steps=10)
  adaptive = eot.eot_pgd(
    logits_fn, t.fn, x, y, key, eps=0.01, step_size=0.0025, steps=10, samples=4
  )
  assert float(jnp.max(jnp.abs(adaptive - x))) <= 0.01 + 1e-6
  assert defended_accuracy(adaptive) <= defended_accuracy(static)
  assert defended_accuracy(adaptive) < defended_accuracy(x)
