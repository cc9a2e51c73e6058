"""The pure, module-level training step shared by every experiment.

``train_step(state, batch, loss_fn)`` is jitted once per ``loss_fn`` (a static argument)
with the state's buffers donated; under a mesh the batch arrives split along its first
axis and XLA inserts the gradient all-reduce, so the same code runs on 1 or N devices
(``jax.sharding``, no ``pmap``).
"""

from __future__ import annotations

import functools

import jax

from audiojax.train.state import LossFn, TrainState


@functools.partial(jax.jit, static_argnames=("loss_fn",), donate_argnums=(0,))
def train_step(
  state: TrainState, batch: dict[str, jax.Array], loss_fn: LossFn
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimizer update on ``batch``.

  Args:
    state: the current state (donated: do not use it after the call).
    batch: arrays with a leading batch axis.
    loss_fn: ``(params, batch, key) -> (scalar loss, dict of scalar metrics)``; it must
      be the same object on every call, or the step recompiles.

  Returns:
    The new state and ``{"loss": ..., **metrics}`` of this batch.
  """
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  (loss, metrics), grads = grad_fn(state.params, batch, state.step_key())
  return state.apply_gradients(grads), {"loss": loss, **metrics}
