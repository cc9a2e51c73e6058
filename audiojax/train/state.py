"""Training state: an immutable pytree of params, optimizer state, step and root key.

Functions and the optimizer are static fields (``pytree_node=False``), so a jitted step
compiles once per model and the checkpointable part is exactly the array leaves. Change
it only with ``.replace`` (flax's ``TrainState`` idea, with the key kept in the state so
that a resumed run derives the same per-step keys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
  """Everything a training step reads and writes.

  Attributes:
    step: number of optimizer updates applied (int32 scalar).
    params: model parameters (a plain pytree).
    opt_state: the optimizer's state for ``params``.
    key: root PRNG key; step ``s`` uses ``jax.random.fold_in(key, s)``.
    tx: the optax transformation (static).
  """

  step: jax.Array
  params: Any
  opt_state: Any
  key: jax.Array
  tx: optax.GradientTransformation = struct.field(pytree_node=False)

  @classmethod
  def create(
    cls, params: Any, tx: optax.GradientTransformation, key: jax.Array
  ) -> TrainState:
    return cls(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=tx.init(params),
      key=key,
      tx=tx,
    )

  def step_key(self) -> jax.Array:
    """The key of the current step, a pure function of (root key, step)."""
    return jax.random.fold_in(self.key, self.step)

  def apply_gradients(self, grads: Any) -> TrainState:
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    return self.replace(
      step=self.step + 1,
      params=optax.apply_updates(self.params, updates),
      opt_state=opt_state,
    )

  def checkpoint_tree(self) -> dict[str, Any]:
    """The array leaves that a checkpoint stores."""
    return {
      "step": self.step,
      "params": self.params,
      "opt_state": self.opt_state,
      "key": self.key,
    }

  def from_checkpoint_tree(self, tree: dict[str, Any]) -> TrainState:
    return self.replace(
      step=tree["step"],
      params=tree["params"],
      opt_state=tree["opt_state"],
      key=tree["key"],
    )


LossFn = Callable[
  [Any, dict[str, jax.Array], jax.Array], tuple[jax.Array, dict[str, jax.Array]]
]
