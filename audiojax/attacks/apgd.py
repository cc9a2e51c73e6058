"""Auto-PGD (Croce & Hein, 2020, "Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks"): PGD without a step size to tune.

The step starts at ``2 eps`` and is halved, per example, at checkpoints
``w_j = ceil(p_j steps)`` (``p_0 = 0``, ``p_1 = 0.22``, ``p_{j+1} = p_j + max(p_j -
p_{j-1} - 0.03, 0.06)``) when fewer than ``rho = 0.75`` of the steps since the last
checkpoint raised the loss, or when the step and the best loss are both unchanged
since then; the iterate then restarts from the best point found. Each step moves with
momentum ``alpha = 0.75``: ``x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha) (x_k -
x_{k-1}))`` with ``z = P(x_k + eta * steepest(grad))``. With the DLR loss
(:mod:`audiojax.attacks.losses`) it is AutoAttack's APGD-DLR. Returned: for each
example, the first adversarial point found, else the point of highest loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.attacks import budget
from audiojax.attacks.gradient import LogitsFn, loss_gradient

RHO, ALPHA = 0.75, 0.75


def checkpoints(steps: int) -> list[int]:
  """AutoAttack's checkpoint iterations for ``steps`` steps, in its integer form:
  the first after ``0.22 steps``, then gaps shrinking by ``0.03 steps`` down to
  ``0.06 steps`` (``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``)."""
  gap = max(int(0.22 * steps), 1)
  shrink, floor = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
  out, k = [], gap
  while k < steps:
    out.append(k)
    gap = max(gap - shrink, floor)
    k += gap
  return out


def apgd(
  logits_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps,
  steps: int = 100,
  norm: str = "linf",
  loss: str = "ce",
  targeted: bool = False,
  random_start: bool = True,
) -> jax.Array:
  """APGD with ``loss`` ("ce" or "dlr") in the ``norm`` ball of radius ``eps``.

  Args:
    logits_fn, x, y, eps, norm, loss, targeted: as for :func:`~audiojax.attacks.pgd`.
    key: draws the random start.
    steps: iterations.
    random_start: start at a uniform point of the ball (else at ``x``).

  Returns:
    The adversarial batch, in the ball and in [-1, 1].
  """
  n = x.shape[0]
  shape = (n,) + (1,) * (x.ndim - 1)
  x0 = x
  if random_start:
    x0 = budget.constrain(x, x + budget.random_point(key, x, eps, norm), eps, norm)
  check = np.zeros(steps + 1, bool)
  check[[c for c in checkpoints(steps) if c <= steps]] = True
  check = jnp.asarray(check)

  def misclassified(v):
    pred = jnp.argmax(logits_fn(v), -1)
    return pred == y if targeted else pred != y

  def step(x_k, grad, eta):
    return budget.constrain(
      x, x_k + eta.reshape(shape) * budget.steepest(grad, norm), eps, norm
    )

  loss0, grad0 = loss_gradient(logits_fn, x0, y, loss, targeted)
  eta = jnp.broadcast_to(2.0 * jnp.asarray(eps, x.dtype), (n,))
  x1 = step(x0, grad0, eta)
  loss1, grad1 = loss_gradient(logits_fn, x1, y, loss, targeted)
  better = loss1 > loss0
  state = dict(
    x_prev=x0,
    x_k=x1,
    grad=grad1,
    loss=loss1,
    best_loss=jnp.maximum(loss0, loss1),
    x_best=jnp.where(better.reshape(shape), x1, x0),
    grad_best=jnp.where(better.reshape(shape), grad1, grad0),
    eta=eta,
    increases=better.astype(jnp.int32),
    since=jnp.int32(1),
    eta_at_check=eta,
    best_at_check=jnp.maximum(loss0, loss1),
    found=misclassified(x0) | misclassified(x1),
    x_found=jnp.where(misclassified(x0).reshape(shape), x0, x1),
  )

  def body(k, s):
    z = step(s["x_k"], s["grad"], s["eta"])
    x_new = budget.constrain(
      x,
      s["x_k"] + ALPHA * (z - s["x_k"]) + (1 - ALPHA) * (s["x_k"] - s["x_prev"]),
      eps,
      norm,
    )
    loss_new, grad_new = loss_gradient(logits_fn, x_new, y, loss, targeted)
    hit = misclassified(x_new)
    new_found = hit & ~s["found"]
    improved = loss_new > s["best_loss"]
    increases = s["increases"] + (loss_new > s["loss"]).astype(jnp.int32)
    best_loss = jnp.maximum(s["best_loss"], loss_new)
    x_best = jnp.where(improved.reshape(shape), x_new, s["x_best"])
    grad_best = jnp.where(improved.reshape(shape), grad_new, s["grad_best"])
    since = s["since"] + 1
    # At a checkpoint: halve the step where progress stalled; restart from the best.
    at = check[k]
    stalled = (increases < RHO * since) | (
      (s["eta_at_check"] == s["eta"]) & (s["best_at_check"] == best_loss)
    )
    halve = at & stalled
    eta = jnp.where(halve, s["eta"] / 2, s["eta"])
    x_next = jnp.where(halve.reshape(shape), x_best, x_new)
    grad_next = jnp.where(halve.reshape(shape), grad_best, grad_new)
    return dict(
      x_prev=jnp.where(halve.reshape(shape), x_best, s["x_k"]),
      x_k=x_next,
      grad=grad_next,
      loss=jnp.where(halve, best_loss, loss_new),
      best_loss=best_loss,
      x_best=x_best,
      grad_best=grad_best,
      eta=eta,
      increases=jnp.where(at, 0, increases),
      since=jnp.where(at, 0, since),
      eta_at_check=jnp.where(at, eta, s["eta_at_check"]),
      best_at_check=jnp.where(at, best_loss, s["best_at_check"]),
      found=s["found"] | hit,
      x_found=jnp.where(new_found.reshape(shape), x_new, s["x_found"]),
    )

  s = jax.lax.fori_loop(2, steps + 1, body, state)
  return jnp.where(s["found"].reshape(shape), s["x_found"], s["x_best"])
