"""Streaming metrics equal the same numbers computed over the whole data at once."""

import jax.numpy as jnp
import numpy as np
import optax

from audiojax.train.metrics import Average, Classification


def test_classification_sums_match_numpy_and_respect_the_mask():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(10, 4)).astype(np.float32)
  labels = rng.integers(0, 4, size=10)
  mask = np.array([1] * 7 + [0] * 3, bool)
  m = Classification.from_batch(
    jnp.asarray(logits), jnp.asarray(labels), jnp.asarray(mask)
  ).compute()
  pred = logits.argmax(-1)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  assert m["count"] == 7
  assert m["accuracy"] == np.mean(pred[:7] == labels[:7])
  np.testing.assert_allclose(m["loss"], np.mean(np.asarray(losses)[:7]), rtol=1e-6)
  confusion = np.zeros((4, 4), int)
  np.add.at(confusion, (labels[:7], pred[:7]), 1)
  np.testing.assert_array_equal(m["confusion"], confusion)


def test_merging_batches_equals_one_big_batch():
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.normal(size=(12, 3)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 3, size=12))
  ones = jnp.ones(12, bool)
  whole = Classification.from_batch(logits, labels, ones).compute()
  parts = Classification.empty(3)
  for s in (slice(0, 5), slice(5, 12)):
    parts = parts.merge(Classification.from_batch(logits[s], labels[s], ones[s]))
  parts = parts.compute()
  assert parts["confusion"] == whole["confusion"]
  np.testing.assert_allclose(parts["loss"], whole["loss"], rtol=1e-6)
  assert parts["accuracy"] == whole["accuracy"]


def test_average_weights_by_count_not_by_batch():
  a = Average.from_values({"loss": 1.0}, weight=1).merge(
    Average.from_values({"loss": 4.0}, weight=3)
  )
  assert a.compute() == {"loss": 13.0 / 4}
