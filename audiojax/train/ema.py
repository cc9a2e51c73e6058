"""An exponential moving average of the params, kept inside the optimizer state.

``track_ema(decay)`` is an optax transformation placed last in a chain: it sees the
final updates and the current params, so it knows the next params and averages them.
Living in ``opt_state`` makes the average part of every checkpoint and of the exact
resume, with no change to the loop (the EMA of diffusion models: Song & Ermon, 2020;
Ho et al., 2020).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax


class EmaState(NamedTuple):
  ema: Any


def track_ema(decay: float) -> optax.GradientTransformation:
  """Passes updates through unchanged and tracks ``ema = d ema + (1 - d) params``."""
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"EMA decay must be in [0, 1), got {decay}")

  def init_fn(params):
    return EmaState(ema=jax.tree.map(lambda p: p.copy(), params))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("track_ema needs params (use it inside optax.chain)")
    ema = jax.tree.map(
      lambda e, p, u: decay * e + (1.0 - decay) * (p + u), state.ema, params, updates
    )
    return updates, EmaState(ema=ema)

  return optax.GradientTransformation(init_fn, update_fn)


def ema_params(opt_state: Any) -> Any:
  """Finds the EMA params in an optimizer state built with ``track_ema``."""
  found = [
    s
    for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, EmaState))
    if isinstance(s, EmaState)
  ]
  if len(found) != 1:
    raise ValueError(
      f"expected one EmaState in the optimizer state, found {len(found)}"
    )
  return found[0].ema
