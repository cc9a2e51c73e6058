"""The EMA transformation averages the params the optimizer produces."""

import jax.numpy as jnp
import numpy as np
import optax

from audiojax.train.ema import ema_params, track_ema


def test_ema_follows_the_params_with_its_decay():
  tx = optax.chain(optax.sgd(1.0), track_ema(0.5))
  params = {"w": jnp.array([0.0])}
  state = tx.init(params)
  seen = [0.0]
  for g in (-1.0, -1.0, -2.0):  # sgd(1.0): params += -g.
    updates, state = tx.update({"w": jnp.array([g])}, state, params)
    params = optax.apply_updates(params, updates)
    seen.append(float(params["w"][0]))
  ema = 0.0
  for p in seen[1:]:
    ema = 0.5 * ema + 0.5 * p
  np.testing.assert_allclose(ema_params(state)["w"], [ema])
  np.testing.assert_allclose(params["w"], [4.0])  # Updates pass through unchanged.
