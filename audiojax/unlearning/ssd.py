"""Selective Synaptic Dampening (Foster et al., 2024, "Fast machine unlearning without
retraining through selective synaptic dampening", AAAI;
https://github.com/if-loops/selective-synaptic-dampening).

No training: SSD estimates each weight's importance to the whole training data D
(retain ∪ forget) and to the forget set D_f as the diagonal of the Fisher
information, the mean over batches of the squared gradient of the batch loss (the
authors' ``calc_importance``), and dampens the weights that matter much more to
D_f than to D:

  where ``I_f > α · I_D``:  ``θ ← θ · min(λ · I_D / I_f, 1)``

with the paper's λ = 1 and α = 10. Every other weight is left exactly as it was.
The importance is the gradient of the task's loss (:mod:`audiojax.unlearning.tasks`),
so SSD dampens a generator's weights too (its denoising loss at fixed draws).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from audiojax.unlearning import fit
from audiojax.unlearning.base import method
from audiojax.unlearning.methods import BOTH
from audiojax.unlearning.tasks import CLASSIFICATION, Task


def importance(params, apply_fn, data, batch_size: int, task: Task = CLASSIFICATION):
  """Mean over ``batch_size`` batches of the squared gradient of the batch's mean
  loss (cross-entropy for a classifier; the last batch padded and its padding
  weighted 0)."""
  per_example = task.example_losses(apply_fn)

  def grad_sq(block, valid, p):
    def loss(p):
      losses = per_example(p, block, jax.random.key(0))
      return jnp.sum(losses * valid) / jnp.sum(valid)

    return jax.tree.map(jnp.square, jax.grad(loss)(p))

  per_batch = fit.over_batches(grad_sq, data, batch_size, params)
  return jax.tree.map(lambda x: x.mean(0), per_batch)


def dampening(imp_full, imp_forget, alpha: float, lam: float):
  """The factor each weight is multiplied by: ``min(λ I_D / I_f, 1)`` where
  ``I_f > α I_D``, else exactly 1."""

  def one(i_d, i_f):
    selected = i_f > alpha * i_d
    beta = jnp.minimum(lam * i_d / jnp.where(selected, i_f, 1.0), 1.0)
    return jnp.where(selected, beta, 1.0)

  return jax.tree.map(one, imp_full, imp_forget)


@method("ssd", tasks=BOTH, alpha=10.0, lam=1.0, batch_size=64)
def ssd(params, apply_fn, retain, forget, key, *, task, alpha, lam, batch_size):
  """SSD: dampen the weights specialised to the forget set (deterministic: ``key``
  is unused)."""
  del key
  full = {k: jnp.concatenate([retain[k], forget[k]]) for k in task.fields}
  factor = dampening(
    importance(params, apply_fn, full, batch_size, task),
    importance(params, apply_fn, forget, batch_size, task),
    alpha,
    lam,
  )
  return jax.tree.map(lambda p, f: p * f.astype(p.dtype), params, factor)
