"""A tiny classifier the attacks can fool: three tone classes, trained in seconds."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax import frontends
from audiojax.models import MODELS
from audiojax.models.classifier import WaveformClassifier

SR, SAMPLES = 8000, 2048
TONES = (500.0, 560.0, 630.0)


def tones(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """``n`` clips of one of three tones (random phase, level, slight detune, noise)."""
  rng = np.random.default_rng(seed)
  y = rng.integers(0, len(TONES), n)
  t = np.arange(SAMPLES) / SR
  f = np.asarray(TONES)[y, None] * rng.uniform(0.97, 1.03, (n, 1))
  amp = rng.uniform(0.2, 0.5, (n, 1))
  x = amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (n, 1)))
  x = x + 0.01 * rng.normal(size=x.shape)
  return x.astype(np.float32), y.astype(np.int32)


@pytest.fixture(scope="session")
def tone_model():
  """``(logits_fn, x_test, y_test)`` of a mel CNN that knows the three tones."""
  frontend = frontends.FRONTENDS.get("mel")(SR, n_fft=256, hop_length=128, n_mels=32)
  model = WaveformClassifier(frontend, MODELS.get("mel_cnn_tiny")(num_classes=3))
  x, y = tones(96, seed=0)
  params = model.init(jax.random.key(0), jnp.asarray(x[:1]))
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, opt_state):
    def loss(p):
      logits = model.apply(p, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grads = jax.grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state

  opt_state = tx.init(params)
  for _ in range(120):
    params, opt_state = step(params, opt_state)
  x_test, y_test = tones(32, seed=1)
  logits_fn = jax.jit(lambda v: model.apply(params, v))
  return logits_fn, jnp.asarray(x_test), jnp.asarray(y_test)
