"""The optimizer steps every training unlearning method shares.

Unlearning runs are short (tens to a few thousand steps), their data fits in memory
(a forget set and the retain set it is weighed against), and the forget score needs
the same run repeated over many seeds. So a method's training is a pure function of
its key: ``steps`` optimizer updates, each batch drawn with replacement from
in-memory arrays by ``fold_in(key, step)``. The losses are the shared ones
(:mod:`audiojax.train.losses`): retain and forget examples meet in one batch whose
per-example ``weight`` is positive to descend and negative to ascend.

:func:`run` drives the steps two ways with the same numbers. Called on concrete
arrays it loops on the host over one jitted step; traced (under ``jax.jit``,
``jax.vmap`` or ``shard_map`` over seeds, :mod:`audiojax.unlearning.many`) it is one
``lax.scan``. Both exist because XLA's CPU backend runs convolutions inside a
``while`` loop 4-12x slower than the same convolutions in a straight-line program
(measured here on the ECG ResNet: 630 vs 50 ms per step), while on GPU/TPU the
scan is the fast way to batch many models. The data are arguments of the step,
never constants baked into it, so every seed's run reuses one compiled step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

Batch = dict[str, jax.Array]


class UnlearningError(ValueError):
  """An unlearning method was given a bad option or malformed data."""


def num_examples(data: Batch) -> int:
  sizes = {k: v.shape[0] for k, v in data.items()}
  if len(set(sizes.values())) != 1:
    raise UnlearningError(f"fields differ in length: {sizes}")
  return next(iter(sizes.values()))


def check_set(name: str, data: Mapping[str, Any], fields=("audio", "label")) -> Batch:
  """``data`` as a dict of jax arrays holding ``fields``, all of one length > 0."""
  if not isinstance(data, Mapping):
    raise UnlearningError(f"{name} must be a dict of arrays, got {type(data).__name__}")
  missing = [f for f in fields if f not in data]
  if missing:
    raise UnlearningError(f"{name} has no {missing} (fields: {sorted(data)})")
  out = {k: jnp.asarray(v) for k, v in data.items()}
  if num_examples(out) == 0:
    raise UnlearningError(f"{name} is empty")
  return out


def draw(data: Batch, key: jax.Array, batch_size: int) -> Batch:
  """``batch_size`` examples of ``data`` drawn uniformly with replacement."""
  idx = jax.random.randint(key, (batch_size,), 0, num_examples(data))
  return {k: v[idx] for k, v in data.items()}


def optimizer(
  name: str, lr: float, momentum: float = 0.9
) -> optax.GradientTransformation:
  """The papers' optimizers: SGD with momentum (SalUn, SCRUB, ℓ1-sparse) or Adam."""
  if name == "sgd":
    return optax.sgd(lr, momentum=momentum)
  if name == "adam":
    return optax.adam(lr)
  raise UnlearningError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def masked(tree: Any, mask: Any | None) -> Any:
  """``tree * mask`` leaf by leaf (``mask`` None: ``tree``)."""
  if mask is None:
    return tree
  return jax.tree.map(lambda x, m: x * m.astype(x.dtype), tree, mask)


def _traced(*trees: Any) -> bool:
  return any(isinstance(x, jax.core.Tracer) for t in trees for x in jax.tree.leaves(t))


def run(
  params: Any,
  opt_state: Any,
  loss_fn: Callable[[Any, Batch, jax.Array], tuple[jax.Array, dict]],
  batch_fn: Callable[[jax.Array, Any], Batch],
  key: jax.Array,
  *,
  steps: int,
  tx: optax.GradientTransformation,
  data: Any = None,
  mask: Any | None = None,
  penalty: Callable[[Any, jax.Array], jax.Array] | None = None,
) -> tuple[Any, Any, jax.Array]:
  """``steps`` optimizer updates of ``loss_fn``.

  Args:
    params: the start (a model's variables, ``{"params": ...}``).
    opt_state: ``tx``'s state (``tx.init(params)`` for a fresh start; methods
      with several phases, like SCRUB, carry it from one phase to the next).
    loss_fn: ``(params, batch, key) -> (loss, metrics)``, e.g.
      :func:`audiojax.train.losses.classification_loss`.
    batch_fn: ``(key, data) -> batch``; step ``i`` draws with ``fold_in(key, i)``
      split in two (the batch, the dropout key).
    key: the run's key.
    steps: number of updates (0 returns ``params``).
    tx: the optimizer.
    data: the arrays ``batch_fn`` draws from (any pytree).
    mask: a pytree of 0/1 like ``params``: only weights where it is 1 change (the
      gradient and the update are both masked, so momentum and weight decay cannot
      move a frozen weight).
    penalty: ``(params, step) -> scalar`` added to the loss (a regulariser whose
      weight may follow the step, e.g. ℓ1-sparse's decay).

  Returns:
    ``(params, opt_state, losses [steps])``.
  """
  if steps == 0:
    return params, opt_state, jnp.zeros((0,), jnp.float32)

  def step(p, state, i, key, data, mask):
    kb, kd = jax.random.split(jax.random.fold_in(key, i))

    def total(p):
      loss, metrics = loss_fn(p, batch_fn(kb, data), kd)
      return (loss if penalty is None else loss + penalty(p, i)), metrics

    (loss, _), grads = jax.value_and_grad(total, has_aux=True)(p)
    updates, state = tx.update(masked(grads, mask), state, p)
    return optax.apply_updates(p, masked(updates, mask)), state, loss

  if _traced(params, opt_state, key, data, mask):

    def body(carry, i):
      p, state, loss = step(*carry, i, key, data, mask)
      return (p, state), loss

    (params, opt_state), losses = jax.lax.scan(
      body, (params, opt_state), jnp.arange(steps)
    )
    return params, opt_state, losses
  jitted = jax.jit(step)
  losses = []
  for i in range(steps):
    params, opt_state, loss = jitted(params, opt_state, jnp.int32(i), key, data, mask)
    losses.append(loss)
  return params, opt_state, jnp.stack(losses)


def descend(
  params: Any,
  loss_fn,
  batch_fn,
  key: jax.Array,
  *,
  steps: int,
  tx,
  data=None,
  mask=None,
  penalty=None,
) -> tuple[Any, jax.Array]:
  """:func:`run` from a fresh optimizer state; returns ``(params, losses)``."""
  params, _, losses = run(
    params,
    tx.init(params),
    loss_fn,
    batch_fn,
    key,
    steps=steps,
    tx=tx,
    data=data,
    mask=mask,
    penalty=penalty,
  )
  return params, losses


def over_batches(fn: Callable[..., Any], data: Batch, batch_size: int, *args) -> Any:
  """``fn(block, valid, *args)`` for every block of :func:`batches`, stacked.

  A host loop over one jitted ``fn`` on concrete arrays, a ``lax.map`` when traced
  (see :func:`run` for why both).
  """
  blocks, valid = batches(data, batch_size)
  if _traced(data, args):
    return jax.lax.map(lambda bv: fn(bv[0], bv[1], *args), (blocks, valid))
  jitted = jax.jit(fn)
  outs = [
    jitted({k: v[i] for k, v in blocks.items()}, valid[i], *args)
    for i in range(valid.shape[0])
  ]
  return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


def batches(data: Batch, batch_size: int) -> tuple[Batch, jax.Array]:
  """``data`` cut into ``[num_batches, batch_size, ...]`` blocks (the last padded
  by repeating example 0) and the ``[num_batches, batch_size]`` 0/1 validity mask,
  for a ``lax.scan`` or ``lax.map`` over a whole set."""
  n = num_examples(data)
  count = -(-n // batch_size)
  pad = count * batch_size - n
  idx = jnp.concatenate([jnp.arange(n), jnp.zeros((pad,), jnp.int32)])
  valid = (jnp.arange(count * batch_size) < n).astype(jnp.float32)
  blocks = {k: v[idx].reshape(count, batch_size, *v.shape[1:]) for k, v in data.items()}
  return blocks, valid.reshape(count, batch_size)


def mixed_batch(
  retain: Batch,
  forget: Batch,
  key: jax.Array,
  batch_size: int,
  forget_weight: float,
  retain_weight: float = 1.0,
) -> Batch:
  """Half a batch from each set (the fields both hold), with per-example weights
  (negative: ascend)."""
  kr, kf = jax.random.split(key)
  half = max(1, batch_size // 2)
  r, f = draw(retain, kr, half), draw(forget, kf, half)
  fields = sorted((set(r) & set(f)) - {"weight"})
  batch = {k: jnp.concatenate([r[k], f[k]]) for k in fields}
  batch["weight"] = jnp.concatenate(
    [jnp.full((half,), retain_weight), jnp.full((half,), forget_weight)]
  ).astype(jnp.float32)
  return batch
