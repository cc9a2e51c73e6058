"""Gradient-masking checks, in the spirit of AutoAttack (Croce & Hein, 2020) and of
Carlini et al., 2019 ("On evaluating adversarial robustness"), section 5.

A robustness number is only believable if the attack behaves like an attack on the
model: more PGD steps are never weaker, random restarts are never weaker, noise of
the same norm is never stronger than the white-box attack, the loss rises along the
attack, and a black-box attack is not stronger than the white-box one. A defence that
fails one of these usually masks gradients (saturating, shattered or randomised
gradients; Athalye et al., 2018) rather than being robust.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.attacks import budget
from audiojax.attacks.gradient import LogitsFn, loss_gradient, pgd
from audiojax.attacks.suite import ATTACKS


def _accuracy(logits_fn: LogitsFn, x: jax.Array, y: jax.Array) -> float:
  return float(jnp.mean(jnp.argmax(logits_fn(x), -1) == y))


def masking_checks(
  logits_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps: float,
  norm: str = "linf",
  steps: int = 10,
  tolerance: float = 0.0,
  black_box: bool = True,
) -> dict[str, Any]:
  """Runs the checks on one batch; returns each check's verdict and its numbers.

  Args:
    logits_fn: the model.
    x, y: a batch and its labels.
    key: for random starts, noise and the black box.
    eps: the budget.
    norm: "linf" or "l2".
    steps: PGD steps of the reference attack (the "more steps" run uses 4x).
    tolerance: accuracy slack allowed in each comparison (for small batches).
    black_box: also compare SPSA with PGD (slower).

  Returns:
    ``{"passed": all checks passed, "<check>": bool, "<check>_values": [...]}``.
  """
  step = eps / 4
  k = jax.random.split(key, 4)

  def pgd_acc(n, kk):
    adv = pgd(logits_fn, x, y, kk, eps=eps, step_size=step, steps=n, norm=norm)
    return adv, _accuracy(logits_fn, adv, y)

  adv, base = pgd_acc(steps, k[0])
  _, more = pgd_acc(4 * steps, k[0])
  restarts = [base, pgd_acc(steps, k[1])[1]]
  noise = budget.constrain(x, x + budget.random_point(k[2], x, eps, norm), eps, norm)
  noise_acc = _accuracy(logits_fn, noise, y)
  # The loss along the attack, averaged over the batch.
  trace, x_adv = [], x
  for _ in range(steps):
    loss, grad = loss_gradient(logits_fn, x_adv, y, "ce", False)
    trace.append(float(jnp.mean(loss)))
    x_adv = budget.constrain(x, x_adv + step * budget.steepest(grad, norm), eps, norm)
  trace.append(float(jnp.mean(loss_gradient(logits_fn, x_adv, y, "ce", False)[0])))
  out: dict[str, Any] = {
    "more_steps_not_weaker": more <= base + tolerance,
    "more_steps_not_weaker_values": [base, more],
    "restarts_not_weaker": min(restarts) <= base + tolerance,
    "restarts_not_weaker_values": restarts,
    "noise_not_stronger": noise_acc + tolerance >= base,
    "noise_not_stronger_values": [noise_acc, base],
    "loss_rises": trace[-1] > trace[0],
    "loss_rises_values": trace,
  }
  if black_box:
    bb = ATTACKS.get("spsa")(logits_fn, x, y, k[3], eps=eps, norm=norm)
    bb_acc = _accuracy(logits_fn, bb, y)
    out["black_box_not_stronger"] = bb_acc + tolerance >= base
    out["black_box_not_stronger_values"] = [bb_acc, base]
  out["passed"] = all(v for name, v in out.items() if isinstance(v, bool | np.bool_))
  return out
