"""Every attack behind one calling convention, for robustness tables and tests.

``ATTACKS.get(name)(logits_fn, x, y, key, *, eps, norm, targeted=False, **kwargs)``
returns the adversarial batch in the ``norm`` ball of radius ``eps`` and in [-1, 1].
The convention is what an evaluator loops over; each attack's own function (with
its own arguments) is the one to call directly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.attacks.apgd import apgd
from audiojax.attacks.gradient import LogitsFn, fgsm, pgd
from audiojax.attacks.minimal import carlini_wagner, deepfool
from audiojax.attacks.spsa import spsa
from audiojax.registry import Registry


def _fgsm(logits_fn, x, y, key, *, eps, norm, targeted=False):
  del key
  return fgsm(logits_fn, x, y, eps=eps, norm=norm, targeted=targeted)


def _pgd(logits_fn, x, y, key, *, eps, norm, targeted=False, steps=10, rel_step=0.25):
  # Step eps/4 for 10 steps covers the ball 2.5 times (Madry et al.'s rule of thumb).
  step = jnp.asarray(eps) * rel_step
  return pgd(
    logits_fn,
    x,
    y,
    key,
    eps=eps,
    step_size=step,
    steps=steps,
    norm=norm,
    targeted=targeted,
  )


def _apgd(loss):
  def attack(logits_fn, x, y, key, *, eps, norm, targeted=False, steps=100):
    return apgd(
      logits_fn,
      x,
      y,
      key,
      eps=eps,
      steps=steps,
      norm=norm,
      loss=loss,
      targeted=targeted,
    )

  return attack


def _cw(logits_fn, x, y, key, *, eps, norm, targeted=False, steps=100, search_steps=5):
  del key
  if norm != "l2":
    raise ValueError(f"the Carlini-Wagner attack is an L2 attack, not {norm!r}")
  return carlini_wagner(
    logits_fn,
    x,
    y,
    eps=eps,
    steps=steps,
    search_steps=search_steps,
    targeted=targeted,
  )


def _deepfool(logits_fn, x, y, key, *, eps, norm, targeted=False, steps=50):
  del key
  if targeted:
    raise ValueError("DeepFool is untargeted")
  return deepfool(logits_fn, x, y, eps=eps, norm=norm, steps=steps)


def _spsa(logits_fn: LogitsFn, x, y, key, *, eps, norm, targeted=False, **kwargs):
  # The black box sees only scores, as a model outside JAX would give them.
  seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
  scores = jax.jit(logits_fn)
  out = spsa(
    lambda a: np.asarray(scores(jnp.asarray(a))),
    np.asarray(x),
    np.asarray(y),
    eps=np.asarray(eps),
    norm=norm,
    targeted=targeted,
    seed=seed,
    **kwargs,
  )
  return jnp.asarray(out)


ATTACKS: Registry = Registry(
  "attack",
  {
    "fgsm": _fgsm,
    "pgd": _pgd,
    "apgd_ce": _apgd("ce"),
    "apgd_dlr": _apgd("dlr"),
    "cw_l2": _cw,
    "deepfool": _deepfool,
    "spsa": _spsa,
  },
)
