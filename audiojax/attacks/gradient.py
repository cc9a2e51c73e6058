"""White-box gradient attacks: FGSM and PGD, with L-infinity, L2 and SNR budgets.

* FGSM (Goodfellow et al., 2015, "Explaining and harnessing adversarial examples"):
  one step of size ``eps`` along the steepest-ascent direction of the loss.
* PGD (Madry et al., 2018, "Towards deep learning models resistant to adversarial
  attacks"): ``steps`` steps of ``step_size`` from a random start in the ball, each
  projected back onto the ball and into [-1, 1]; the last iterate is returned, as
  torchattacks does.

``logits_fn(x) -> logits`` is any differentiable map from a waveform batch in
[-1, 1] (a restored classifier: ``lambda x: run.model.apply(run.params, x)``; the
front end is inside the model, so gradients reach the samples). ``eps`` is a scalar
or one radius per example (``budget.snr_radius`` for an SNR budget). Untargeted
attacks ascend the loss of the true label ``y``; ``targeted=True`` descends the loss
of the target label ``y``. ``y`` is whatever the ``loss`` takes: labels ``[N]``
for ``ce``, ``dlr`` and ``margin``, piano rolls ``[N, frames, pitches]`` for a
transcriber's ``frame_bce`` (untargeted: away from the true roll; targeted: toward
a target roll). Everything is pure and deterministic given ``key``; wrap in
``jax.jit`` with the configuration static (``functools.partial``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from audiojax.attacks import budget
from audiojax.attacks.losses import LOSSES

LogitsFn = Callable[[jax.Array], jax.Array]


def loss_gradient(
  logits_fn: LogitsFn, x: jax.Array, y: jax.Array, loss: str, targeted: bool
) -> tuple[jax.Array, jax.Array]:
  """Per-example attack losses ``[N]`` (to ascend) and their gradient w.r.t. ``x``."""
  loss_fn = LOSSES.get(loss)
  sign = -1.0 if targeted else 1.0

  def total(v):
    per_example = sign * loss_fn(logits_fn(v), y)
    return jnp.sum(per_example), per_example

  (_, per_example), grad = jax.value_and_grad(total, has_aux=True)(x)
  return per_example, grad


def fgsm(
  logits_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  *,
  eps,
  norm: str = "linf",
  targeted: bool = False,
  loss: str = "ce",
) -> jax.Array:
  """One steepest-ascent step of length ``eps``, clipped to [-1, 1].

  Args:
    logits_fn: waveform batch -> logits.
    x: waveforms ``[N, ...]`` in [-1, 1].
    y: true labels ``[N]`` (target labels when ``targeted``), or what ``loss``
      compares the logits with (``frame_bce``: rolls ``[N, frames, pitches]``).
    eps: the budget (scalar or ``[N]``).
    norm: "linf" (the sign of the gradient) or "l2" (the normalised gradient).
    targeted: step toward ``y`` instead of away from it.
    loss: a name in ``attacks.losses.LOSSES``.

  Returns:
    The adversarial batch, like ``x``.
  """
  _, grad = loss_gradient(logits_fn, x, y, loss, targeted)
  step = budget.steepest(grad, norm) * budget._per_example(eps, x)
  return budget.constrain(x, x + step, eps, norm)


def pgd(
  logits_fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps,
  step_size,
  steps: int,
  norm: str = "linf",
  random_start: bool = True,
  targeted: bool = False,
  loss: str = "ce",
  unroll: int = 1,
) -> jax.Array:
  """Projected gradient descent on the loss, from a random start in the ball.

  Args:
    logits_fn, x, y, eps, norm, targeted, loss: as for :func:`fgsm`.
    key: draws the random start.
    step_size: length of each step (scalar or ``[N]``, same units as ``eps``).
    steps: number of steps.
    random_start: start at a uniform point of the ball (else at ``x``).
    unroll: loop iterations XLA unrolls (trades compile time for speed).

  Returns:
    The last iterate, in the ball and in [-1, 1].
  """
  x_adv = x
  if random_start:
    x_adv = budget.constrain(x, x + budget.random_point(key, x, eps, norm), eps, norm)
  alpha = budget._per_example(step_size, x)

  def body(_, x_adv):
    _, grad = loss_gradient(logits_fn, x_adv, y, loss, targeted)
    return budget.constrain(x, x_adv + alpha * budget.steepest(grad, norm), eps, norm)

  return jax.lax.fori_loop(0, steps, body, x_adv, unroll=unroll)
