"""Minimum-norm attacks: Carlini-Wagner L2 and DeepFool.

They look for the smallest perturbation that changes the decision, not the most
damaging one inside a ball. To evaluate robustness at a budget ``eps``, a result
farther than ``eps`` from ``x`` counts as a failure and the clean input is returned
(what AutoAttack does with its minimum-norm FAB attack).

* Carlini & Wagner, 2017 ("Towards evaluating the robustness of neural networks"),
  L2: minimise ``||delta||^2 + c * max(z_y - max_{i!=y} z_i, -kappa)`` in the
  ``tanh`` reparametrisation that keeps ``x + delta`` in [-1, 1], by Adam, with a
  binary search over ``c`` keeping the smallest successful perturbation.
* DeepFool (Moosavi-Dezfooli et al., 2016, "DeepFool: a simple and accurate method
  to fool deep neural networks"): repeatedly step to the nearest linearised decision
  boundary among the classes, overshooting by ``overshoot``; L2 or L-infinity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from audiojax.attacks import budget
from audiojax.attacks.gradient import LogitsFn
from audiojax.attacks.losses import margin


def within_budget(x: jax.Array, x_adv: jax.Array, eps, norm: str) -> jax.Array:
  """``x_adv`` where it lies in the ``eps`` ball (and [-1, 1]), else ``x``."""
  if eps is None:
    return jnp.clip(x_adv, -1.0, 1.0)
  delta = x_adv - x
  size = (
    budget.l2_norm(delta)
    if norm == "l2"
    else jnp.max(jnp.abs(delta).reshape(x.shape[0], -1), axis=1)
  )
  ok = size <= jnp.broadcast_to(jnp.asarray(eps, x.dtype), size.shape) * (1 + 1e-5)
  return jnp.where(ok.reshape((-1,) + (1,) * (x.ndim - 1)), jnp.clip(x_adv, -1, 1), x)


def carlini_wagner(
  logits_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  *,
  eps=None,
  steps: int = 100,
  search_steps: int = 5,
  c_init: float = 1.0,
  kappa: float = 0.0,
  learning_rate: float = 1e-2,
  targeted: bool = False,
) -> jax.Array:
  """The Carlini-Wagner L2 attack.

  Args:
    logits_fn, x, y, targeted: as for :func:`~audiojax.attacks.pgd`.
    eps: an L2 budget the result must meet (None: no budget).
    steps: Adam steps per value of ``c``.
    search_steps: binary-search rounds over ``c``.
    c_init: the first ``c``.
    kappa: confidence margin.
    learning_rate: Adam's.

  Returns:
    The smallest successful perturbation found per example (``x`` where none).
  """
  n = x.shape[0]
  shape = (n,) + (1,) * (x.ndim - 1)
  w0 = jnp.arctanh(jnp.clip(x, -1 + 1e-6, 1 - 1e-6))
  tx = optax.adam(learning_rate)

  def objective(w, c):
    x_adv = jnp.tanh(w)
    m = margin(logits_fn(x_adv), y)  # > 0: another class beats y.
    f = jnp.maximum(m if targeted else -m, -kappa)
    dist = jnp.sum(jnp.square(x_adv - x).reshape(n, -1), axis=1)
    return jnp.sum(dist + c * f), (x_adv, dist, m)

  def success(m):
    return m < 0 if targeted else m > 0

  def run_c(c, best):
    best_x, best_dist = best

    def body(_, carry):
      w, opt_state, best_x, best_dist = carry
      (_, (x_adv, dist, m)), grad = jax.value_and_grad(objective, has_aux=True)(w, c)
      better = success(m) & (dist < best_dist)
      best_x = jnp.where(better.reshape(shape), x_adv, best_x)
      best_dist = jnp.where(better, dist, best_dist)
      updates, opt_state = tx.update(grad, opt_state)
      return optax.apply_updates(w, updates), opt_state, best_x, best_dist

    carry = (w0, tx.init(w0), best_x, best_dist)
    _, _, best_x, best_dist = jax.lax.fori_loop(0, steps, body, carry)
    return best_x, best_dist

  c = jnp.full((n,), c_init, x.dtype)
  low, high = jnp.zeros_like(c), jnp.full_like(c, jnp.inf)
  best = (x, jnp.full((n,), jnp.inf, x.dtype))
  for _ in range(search_steps):
    found_before = best[1]
    best = run_c(c, best)
    succeeded = best[1] < found_before
    # Success: try a smaller c (closer points); failure: a larger one.
    high = jnp.where(succeeded, jnp.minimum(high, c), high)
    low = jnp.where(succeeded, low, jnp.maximum(low, c))
    c = jnp.where(jnp.isinf(high), c * 10.0, (low + high) / 2.0)
  return within_budget(x, best[0], eps, "l2")


def deepfool(
  logits_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  *,
  eps=None,
  norm: str = "l2",
  steps: int = 50,
  overshoot: float = 0.02,
) -> jax.Array:
  """DeepFool toward the nearest linearised boundary (untargeted).

  Args:
    logits_fn, x, y: as for :func:`~audiojax.attacks.pgd`.
    eps: a budget the result must meet (None: no budget).
    norm: "l2" or "linf".
    steps: at most this many linearisation steps.
    overshoot: the step past the boundary, relative.

  Returns:
    The adversarial batch (``x`` where the budget is exceeded).
  """
  n = x.shape[0]
  shape = (n,) + (1,) * (x.ndim - 1)
  num_classes = logits_fn(x[:1]).shape[-1]
  onehot = jax.nn.one_hot(y, num_classes)

  def jacobian(v):
    # d(z_k - z_y)/dv for every class k: one vjp per class (C is small).
    def diff(v):
      z = logits_fn(v)
      return z - jnp.sum(z * onehot, axis=1, keepdims=True)

    z, vjp = jax.vjp(diff, v)
    rows = jax.vmap(lambda e: vjp(jnp.broadcast_to(e, z.shape))[0])(
      jnp.eye(num_classes)
    )
    return z, rows  # [N, C], [C, N, ...]

  def body(_, carry):
    r_total, done = carry
    z, w = jacobian(jnp.clip(x + (1 + overshoot) * r_total, -1, 1))
    done = done | (jnp.argmax(z, -1) != y)  # z_y - z_y = 0: another class leads.
    flat = w.reshape(num_classes, n, -1)
    wnorm = (
      jnp.sqrt(jnp.sum(flat**2, -1)) if norm == "l2" else jnp.sum(jnp.abs(flat), -1)
    ).T  # [N, C]
    dist = jnp.abs(z) / (wnorm + 1e-12)
    dist = jnp.where(onehot > 0, jnp.inf, dist)
    k = jnp.argmin(dist, axis=1)
    wk = jnp.take_along_axis(flat, k[None, :, None], 0)[0].reshape(x.shape)
    fk = jnp.take_along_axis(z, k[:, None], 1)[:, 0]
    if norm == "l2":
      nk = jnp.sum(wk.reshape(n, -1) ** 2, -1)
      r = ((jnp.abs(fk) + 1e-4) / (nk + 1e-12)).reshape(shape) * wk
    else:
      nk = jnp.sum(jnp.abs(wk).reshape(n, -1), -1)
      r = ((jnp.abs(fk) + 1e-4) / (nk + 1e-12)).reshape(shape) * jnp.sign(wk)
    r_total = jnp.where(done.reshape(shape), r_total, r_total + r)
    return r_total, done

  r, _ = jax.lax.fori_loop(0, steps, body, (jnp.zeros_like(x), jnp.zeros(n, bool)))
  return within_budget(x, jnp.clip(x + (1 + overshoot) * r, -1, 1), eps, norm)
