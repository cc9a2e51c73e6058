"""Samplers recover a known distribution when given its exact predictor.

For a Gaussian mixture the optimal prediction of every objective has a closed form, so
these tests check the samplers and the objectives' algebra without training anything:
a broken sampler cannot hide behind an undertrained model.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.generate import diffusion, sampling

WEIGHTS = jnp.array([0.3, 0.7])
MEANS = jnp.array([[-2.0, 0.0], [2.0, 1.0]])
STDS = jnp.array([0.5, 0.3])


def gmm_predictor(objective):
  """The exact ``E[target | x_t, t]`` of an isotropic 2-D Gaussian mixture."""

  def model_fn(x, t):
    a, s = (c[:, None, None] for c in objective.coefficients(t))  # [B, 1, 1]
    var = a**2 * STDS[None, :, None] ** 2 + s**2  # [B, K, 1]
    resid = x[:, None, :] - a * MEANS[None]  # [B, K, D]
    logp = (
      jnp.log(WEIGHTS)[None]
      - jnp.log(var[..., 0])
      - jnp.sum(resid**2, -1) / (2 * var[..., 0])
    )
    post = jax.nn.softmax(logp, -1)[..., None]  # [B, K, 1]
    x0 = jnp.sum(post * (MEANS[None] + a * STDS[None, :, None] ** 2 / var * resid), 1)
    eps = jnp.sum(post * (s / var * resid), 1)
    return objective.from_x0_noise(x0, eps, t)

  return model_fn


CASES = [("flow", 0.0, 100), ("flow", 1.0, 200), ("ddpm", 0.0, 100), ("ddpm", 1.0, 200)]


@pytest.mark.parametrize("objective,eta,steps", CASES)
def test_sampler_recovers_the_mixture(objective, eta, steps):
  obj = diffusion.OBJECTIVES.get(objective)()
  noise = jax.random.normal(jax.random.key(0), (6000, 2))
  run = jax.jit(
    lambda n, k: sampling.sample_loop(
      obj, gmm_predictor(obj), n, k, steps=steps, eta=eta
    )
  )
  x = np.asarray(run(noise, jax.random.key(1)))
  assert np.all(np.isfinite(x))
  comp = np.argmin(((x[:, None] - np.asarray(MEANS)[None]) ** 2).sum(-1), 1)
  np.testing.assert_allclose(np.mean(comp == 0), 0.3, atol=0.025)
  for k in range(2):
    xs = x[comp == k]
    np.testing.assert_allclose(xs.mean(0), MEANS[k], atol=0.04)
    np.testing.assert_allclose(xs.std(0), [STDS[k]] * 2, rtol=0.1)


def test_naive_ddpm_without_the_alpha_floor_would_blow_up():
  # The floor on alpha_bar is what keeps x0 = (x_t - s eps) / a finite at t = 1.
  obj = diffusion.DDPM()
  a, _ = obj.coefficients(jnp.ones(1))
  assert float(a[0]) == pytest.approx(np.sqrt(obj.min_alpha_bar))
  assert float(diffusion.DDPM(min_alpha_bar=0.0).coefficients(jnp.ones(1))[0][0]) < 1e-6


@pytest.mark.parametrize("objective", list(diffusion.OBJECTIVES))
def test_loss_is_smallest_at_the_exact_predictor(objective):
  obj = diffusion.OBJECTIVES.get(objective)()
  k = jax.random.bernoulli(jax.random.key(6), WEIGHTS[1], (20000,)).astype(int)
  x0 = MEANS[k] + STDS[k][:, None] * jax.random.normal(jax.random.key(2), (20000, 2))
  exact = gmm_predictor(obj)
  key = jax.random.key(3)
  best = float(diffusion.loss(obj, exact, x0, key).mean())
  for scale in (0.9, 1.1):
    worse = float(
      diffusion.loss(obj, lambda x, t, scale=scale: scale * exact(x, t), x0, key).mean()
    )
    assert worse > best


def test_corrupt_and_to_x0_noise_invert_each_other():
  x0 = jax.random.normal(jax.random.key(4), (5, 3))
  noise = jax.random.normal(jax.random.key(5), (5, 3))
  t = jnp.linspace(0.1, 0.9, 5)
  for obj in (diffusion.Flow(), diffusion.DDPM()):
    x_t = diffusion.corrupt(obj, x0, noise, t)
    pred = obj.from_x0_noise(x0, noise, t)
    x0_hat, noise_hat = obj.to_x0_noise(pred, x_t, t)
    np.testing.assert_allclose(x0_hat, x0, atol=1e-4)
    np.testing.assert_allclose(noise_hat, noise, atol=1e-5)


def _toy_apply(params, x, t, cond, adapter):
  # Pulls x towards a condition-dependent point; the adapter shifts it.
  target = params["scale"] * cond["family"][:, None, None, None].astype(jnp.float32)
  shift = 0.0 if adapter is None else adapter
  return x - (target + shift) * (1 - t[:, None, None, None])


def test_sampler_is_deterministic_per_key_and_independent_of_the_batch():
  s = sampling.Sampler(diffusion.Flow(), _toy_apply, (2, 2, 1), steps=4, guidance=2.0)
  params = {"scale": jnp.float32(0.5)}
  cond = {"family": jnp.array([1, 2, 3])}
  a = s(params, cond, jax.random.key(0))
  np.testing.assert_array_equal(a, s(params, cond, jax.random.key(0)))
  assert not np.allclose(a, s(params, cond, jax.random.key(1)))
  two = s(params, {"family": cond["family"][:2]}, jax.random.key(0))
  np.testing.assert_allclose(two, a[:2], rtol=1e-6)
  per_image = s(
    params, cond, jax.random.key(0), jnp.array([0.0, 1.0, 2.0]), adapter_per_image=True
  )
  np.testing.assert_allclose(per_image[0], a[0], rtol=1e-6)
  assert not np.allclose(per_image[2], a[2])


def test_guidance_one_is_the_conditional_prediction():
  fn = lambda x, t, c: x * c
  x, t = jnp.ones((2, 3)), jnp.zeros(2)
  cond, null = jnp.full((2, 1), 3.0), jnp.zeros((2, 1))
  np.testing.assert_allclose(sampling.guided(fn, cond, null, 1.0)(x, t), 3.0)
  # u + w (c - u) with u = 0, c = 3, w = 2.
  np.testing.assert_allclose(sampling.guided(fn, cond, null, 2.0)(x, t), 6.0)
