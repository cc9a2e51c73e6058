"""The classifier tables of the ``attacks`` experiment: robust accuracy, quality,
transfer, the universal perturbation and the gradient-masking checks.

Every function takes restored logits functions and a fixed batch of test clips, so
each table attacks the same clips; keys derive from the experiment's seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax import evaluators, quality
from audiojax.attacks import budget, checks, universal
from audiojax.attacks.gradient import pgd
from audiojax.robustness import models
from audiojax.robustness.models import LogitsFn


def pgd_fn(fn: LogitsFn, *, steps: int, norm: str = "linf", rel_step: float = 0.25):
  """A jitted ``(x, y, key, eps) -> x_adv``: PGD with step ``rel_step * eps``."""

  @jax.jit
  def attack(x, y, key, eps):
    return pgd(fn, x, y, key, eps=eps, step_size=eps * rel_step, steps=steps, norm=norm)

  return attack


def attack_batches(attack, x, y, key, eps, batch_size: int) -> jax.Array:
  """``attack(x, y, key, eps)`` in chunks (``eps`` scalar or per example)."""
  eps = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (len(x),))
  outs = []
  for i in range(0, len(x), batch_size):
    s = slice(i, i + batch_size)
    e = eps[s] if eps.ndim else eps
    outs.append(attack(x[s], y[s], jax.random.fold_in(key, i), e))
  return jnp.concatenate(outs)


def robust_accuracy(
  evals: Mapping[str, Any], context: evaluators.Context, params: Any
) -> dict[str, Any]:
  """Runs the ``robust`` evaluators ``evals`` names on the target's params.

  Returns:
    ``{"clean_accuracy", "robust_accuracy": {"linf": {attack: {eps: acc}},
    "snr_db": {attack: {snr: acc}}}, "examples"}``.
  """
  table: dict[str, dict[str, dict[str, float]]] = {"linf": {}, "l2": {}, "snr_db": {}}
  clean, count = None, None
  for ev, spec in zip(evaluators.build(evals, context), _sorted(evals), strict=True):
    out = ev.run(params)
    kind = "snr_db" if spec.get("budget_kind") == "snr" else spec.get("norm", "linf")
    table[kind][spec["attack"]] = out["robust_accuracy"]
    clean, count = out["clean_accuracy"], out["count"]
  return {
    "clean_accuracy": clean,
    "examples": count,
    "robust_accuracy": {k: v for k, v in table.items() if v},
  }


def _sorted(evals: Mapping[str, Any]) -> list[Mapping[str, Any]]:
  # evaluators.build returns the evaluators in name order.
  return [evals[name] for name in sorted(evals)]


def pgd_quality(
  fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps: Sequence[float],
  snr_db: Sequence[float],
  steps: int,
  batch_size: int,
  sample_rate: int,
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
  """SNR and PESQ of PGD sets at each L-inf eps and each SNR budget, and the sets."""
  out, sets = {}, {}
  linf, l2 = pgd_fn(fn, steps=steps), pgd_fn(fn, steps=steps, norm="l2")
  for e in eps:
    adv = attack_batches(linf, x, y, key, e, batch_size)
    sets[f"pgd_linf_{e:g}"] = adv
    out[f"pgd_linf_{e:g}"] = quality.summary(x, adv, sample_rate)
  for s in snr_db:
    adv = attack_batches(l2, x, y, key, budget.snr_radius(x, s), batch_size)
    sets[f"pgd_snr_{s:g}db"] = adv
    out[f"pgd_snr_{s:g}db"] = quality.summary(x, adv, sample_rate)
  return out, sets


def transfer(
  fns: Mapping[str, LogitsFn],
  ensembles: Mapping[str, Sequence[str]],
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  eps: float,
  steps: int,
  batch_size: int,
) -> dict[str, dict[str, float]]:
  """Success rate of PGD examples crafted on each source on every target.

  A source is a model, or an ensemble of models (``ensembles``: name -> members):
  the representation-robust attack, judged on the models outside it.

  Returns:
    ``{source: {target: success rate}}``; the diagonal is the white-box rate.
  """
  correct = {
    t: models.predictions(f, x, batch_size) == np.asarray(y) for t, f in fns.items()
  }
  sources = dict(fns)
  for name, members in ensembles.items():
    sources[name] = models.ensemble_logits({m: fns[m] for m in members})
  table = {}
  for i, (src, fn) in enumerate(sources.items()):
    adv = attack_batches(
      pgd_fn(fn, steps=steps), x, y, jax.random.fold_in(key, i), eps, batch_size
    )
    table[src] = {
      t: models.success_rate(f, adv, y, correct[t], batch_size) for t, f in fns.items()
    }
  return table


def universal_table(
  fn: LogitsFn,
  train: tuple[jax.Array, jax.Array],
  x: jax.Array,
  key: jax.Array,
  *,
  eps: float,
  rel_step: float,
  epochs: int,
  batch_size: int,
  norm: str = "linf",
) -> tuple[dict[str, Any], jax.Array]:
  """One perturbation fit on training clips; fooling rates on unseen test clips."""
  xt, yt = train
  batches = [
    (xt[i : i + batch_size], yt[i : i + batch_size])
    for i in range(0, len(xt), batch_size)
  ]
  v = universal.universal(
    fn,
    batches,
    tuple(x.shape[1:]),
    eps=eps,
    step_size=eps * rel_step,
    epochs=epochs,
    norm=norm,
  )
  noise = universal.random_like(key, v, norm)

  clean = models.predictions(fn, x, batch_size)

  def rate(p):
    perturbed = jnp.clip(x + p[None], -1.0, 1.0)
    return float(np.mean(models.predictions(fn, perturbed, batch_size) != clean))

  return {
    "eps": eps,
    "norm": norm,
    "fit_examples": len(xt),
    "fooling_rate": rate(v),
    "noise_fooling_rate": rate(noise),
    "train_fooling_rate": float(universal.fooling_rate(fn, xt[:batch_size], v)),
  }, jnp.clip(x + v[None], -1.0, 1.0)


def masking(
  fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps: float, steps: int
) -> dict[str, Any]:
  """AutoAttack-style gradient-masking checks on the target (numbers as lists)."""
  out = checks.masking_checks(fn, x, y, key, eps=eps, steps=steps)
  return jax.tree.map(lambda v: v.tolist() if hasattr(v, "tolist") else v, out)
