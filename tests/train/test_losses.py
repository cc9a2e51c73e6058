"""Per-example weights in the shared losses: the mean without, a weighted mean with."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax.train.losses import classification_loss, weighted_mean


def _apply(params, audio, train=False, rngs=None):
  del train, rngs
  return audio[:, :3] * params["w"]  # Logits from the first three samples.


BATCH = {
  "audio": jnp.asarray(np.random.default_rng(0).normal(size=(4, 8)), jnp.float32),
  "label": jnp.array([0, 2, 1, 2]),
}
PARAMS = {"w": jnp.float32(1.5)}


def _per_example():
  logits = _apply(PARAMS, BATCH["audio"])
  return optax.softmax_cross_entropy_with_integer_labels(logits, BATCH["label"])


def test_without_weights_the_loss_is_the_plain_mean_bit_for_bit():
  loss, metrics = classification_loss(_apply)(PARAMS, BATCH, jax.random.key(0))
  assert loss == _per_example().mean()
  assert 0.0 <= metrics["accuracy"] <= 1.0


def test_weights_select_and_scale_examples():
  loss_fn = classification_loss(_apply)
  losses = np.asarray(_per_example())
  w = jnp.array([1.0, 0.0, 3.0, 0.0])  # Retain 0 and 2 (the third thrice), drop 1, 3.
  loss, _ = loss_fn(PARAMS, {**BATCH, "weight": w}, jax.random.key(0))
  assert float(loss) == pytest.approx((losses[0] + 3 * losses[2]) / 4, rel=1e-6)
  ones, _ = loss_fn(PARAMS, {**BATCH, "weight": jnp.ones(4)}, jax.random.key(0))
  assert float(ones) == pytest.approx(losses.mean(), rel=1e-6)
  # A negative weight ascends that example's loss (gradient ascent on a forget set).
  grad = jax.grad(lambda p, b: loss_fn(p, b, jax.random.key(0))[0])
  up = grad(PARAMS, {**BATCH, "weight": jnp.array([1.0, 0.0, 0.0, 0.0])})["w"]
  down = grad(PARAMS, {**BATCH, "weight": jnp.array([-1.0, 0.0, 0.0, 0.0])})["w"]
  assert float(up) == pytest.approx(-float(down), rel=1e-6)
  assert float(weighted_mean(jnp.ones(3), jnp.zeros(3))) == 0.0  # No division by 0.
