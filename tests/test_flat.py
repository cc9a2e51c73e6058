"""Pytrees as vectors: exact round trips, batches, and refused layouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.flat import FlatLayout
from audiojax.models import MODELS


def test_model_params_round_trip_through_a_vector_and_a_batch():
  model = MODELS.get("mel_cnn_tiny")(num_classes=3)
  params = model.init(jax.random.key(0), jnp.zeros((1, 12, 8)))
  layout = FlatLayout(params)
  leaves = jax.tree.leaves(params)
  assert layout.size == sum(x.size for x in leaves)
  vector = layout.ravel(params)
  np.testing.assert_array_equal(vector, layout.origin)
  back = layout.unravel(vector)
  assert jax.tree.structure(back) == jax.tree.structure(params)
  for a, b in zip(jax.tree.leaves(back), leaves, strict=True):
    np.testing.assert_array_equal(a, b)
  batch = jnp.stack([vector, 2 * vector])
  doubled = layout.unravel_batch(batch)
  head = doubled["params"]["head"]["kernel"]
  np.testing.assert_array_equal(head[1], 2 * params["params"]["head"]["kernel"])
  x = jnp.ones((2, 12, 8))
  logits = jax.vmap(lambda p: model.apply(p, x))(doubled)  # A population of models.
  np.testing.assert_allclose(logits[0], model.apply(params, x), rtol=1e-6)


def test_other_layouts_are_refused():
  layout = FlatLayout({"a": jnp.zeros(3), "b": jnp.zeros((2, 2))})
  with pytest.raises(ValueError, match=r"shape \(7,\)"):
    layout.unravel(jnp.zeros(6))
  with pytest.raises(ValueError, match=r"\(N, 7\)"):
    layout.unravel_batch(jnp.zeros(7))
  with pytest.raises(ValueError, match="3 values, the layout 7"):
    layout.ravel({"a": jnp.zeros(3)})
