"""Adversarial training as a loss of the shared training loop.

Each method crafts adversarial audio inside the loss, from the current params with
the gradient stopped (the inner maximisation), then returns the outer loss; the
batch's optional ``weight`` field weights examples as in every other loss.

* ``pgd`` (Madry et al., 2018, "Towards deep learning models resistant to adversarial
  attacks"): cross-entropy on PGD examples (``steps`` steps of ``rel_step * eps``
  from a random start). With ``adv_weight < 1`` the loss mixes clean and
  adversarial cross-entropy, ``(1 - w) CE(x) + w CE(x_adv)`` (Goodfellow et al.,
  2015, used ``w = 0.5``): adversarial examples as data augmentation.
* ``fgsm_rs`` (Wong, Rice & Kolter, 2020, "Fast is better than free"): one signed
  step of ``1.25 eps`` from a uniform start in the ball; the cost of two passes.
* ``trades`` (Zhang et al., 2019, "Theoretically principled trade-off between
  robustness and accuracy"): ``CE(x) + beta KL(p(x) || p(x_adv))``, ``x_adv``
  maximising that KL by PGD from ``x + 0.001 N(0, 1)``; ``beta = 6`` as in the paper.

The inner attack runs the model in inference mode (no dropout), as the TRADES
reference code does; ``budget="snr"`` reads ``eps`` as an SNR in dB, one L2 radius
per clip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from audiojax.attacks import budget as budget_lib
from audiojax.attacks.gradient import pgd
from audiojax.registry import Registry
from audiojax.train import losses
from audiojax.train.state import LossFn

TRADES_START_STD = 1e-3


def _check_budget(kind: str, norm: str) -> None:
  if kind not in ("eps", "snr"):
    raise ValueError(f"budget must be 'eps' or 'snr', got {kind!r}")
  if kind == "snr" and norm != "l2":
    raise ValueError(f"an SNR budget is an L2 radius; norm must be 'l2', not {norm!r}")


def _radius(audio: jax.Array, eps: float, norm: str, kind: str) -> jax.Array | float:
  _check_budget(kind, norm)
  return budget_lib.snr_radius(audio, eps) if kind == "snr" else eps


def _train_logits(apply_fn, params, audio, key):
  return apply_fn(params, audio, train=True, rngs={"dropout": key})


def _craft_pgd(apply_fn, params, audio, labels, key, *, eps, norm, steps, step_size):
  frozen = jax.lax.stop_gradient(params)
  adv = pgd(
    lambda v: apply_fn(frozen, v),
    audio,
    labels,
    key,
    eps=eps,
    step_size=step_size,
    steps=steps,
    norm=norm,
  )
  return jax.lax.stop_gradient(adv)


def _ce_loss(
  apply_fn, *, eps, norm, steps, rel_step, adv_weight, budget, fast
) -> LossFn:
  if not 0.0 < adv_weight <= 1.0:
    raise ValueError(f"adv_weight must be in (0, 1], got {adv_weight}")

  def loss_fn(params: Any, batch: dict[str, jax.Array], key: jax.Array):
    audio, labels = batch["audio"], batch["label"]
    attack_key, clean_key, adv_key = jax.random.split(key, 3)
    radius = _radius(audio, eps, norm, budget)
    n, step = (1, 1.25) if fast else (steps, rel_step)
    adv = _craft_pgd(
      apply_fn,
      params,
      audio,
      labels,
      attack_key,
      eps=radius,
      norm=norm,
      steps=n,
      step_size=jnp.asarray(radius) * step,
    )
    adv_logits = _train_logits(apply_fn, params, adv, adv_key)
    per_example = optax.softmax_cross_entropy_with_integer_labels(adv_logits, labels)
    metrics = {"adv_accuracy": jnp.mean(jnp.argmax(adv_logits, -1) == labels)}
    if adv_weight < 1.0:
      logits = _train_logits(apply_fn, params, audio, clean_key)
      clean = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      per_example = (1.0 - adv_weight) * clean + adv_weight * per_example
      metrics["accuracy"] = jnp.mean(jnp.argmax(logits, -1) == labels)
    return losses.weighted_mean(per_example, batch.get("weight")), metrics

  return loss_fn


def _kl(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
  """``KL(softmax(p) || softmax(q))`` per example."""
  log_p = jax.nn.log_softmax(p_logits)
  return jnp.sum(jnp.exp(log_p) * (log_p - jax.nn.log_softmax(q_logits)), -1)


def _trades_loss(apply_fn, *, eps, norm, steps, rel_step, beta, budget) -> LossFn:
  def loss_fn(params: Any, batch: dict[str, jax.Array], key: jax.Array):
    audio, labels = batch["audio"], batch["label"]
    start_key, clean_key, adv_key = jax.random.split(key, 3)
    radius = _radius(audio, eps, norm, budget)
    frozen = jax.lax.stop_gradient(params)
    reference = jax.lax.stop_gradient(apply_fn(frozen, audio))
    alpha = budget_lib._per_example(jnp.asarray(radius) * rel_step, audio)

    def ascend(_, adv):
      grad = jax.grad(lambda v: jnp.sum(_kl(reference, apply_fn(frozen, v))))(adv)
      step = adv + alpha * budget_lib.steepest(grad, norm)
      return budget_lib.constrain(audio, step, radius, norm)

    start = audio + TRADES_START_STD * jax.random.normal(start_key, audio.shape)
    adv = budget_lib.constrain(audio, start, radius, norm)
    adv = jax.lax.stop_gradient(jax.lax.fori_loop(0, steps, ascend, adv))
    logits = _train_logits(apply_fn, params, audio, clean_key)
    adv_logits = _train_logits(apply_fn, params, adv, adv_key)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    per_example = ce + beta * _kl(logits, adv_logits)
    metrics = {
      "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
      "adv_accuracy": jnp.mean(jnp.argmax(adv_logits, -1) == labels),
    }
    return losses.weighted_mean(per_example, batch.get("weight")), metrics

  return loss_fn


def _pgd_method(apply_fn, **kw):
  kw.pop("beta")
  return _ce_loss(apply_fn, fast=False, **kw)


def _fgsm_rs_method(apply_fn, **kw):
  kw.pop("beta")
  return _ce_loss(apply_fn, fast=True, **kw)


def _trades_method(apply_fn, **kw):
  if kw.pop("adv_weight") != 1.0:
    raise ValueError("TRADES weighs its terms with beta; leave adv_weight at 1.0")
  return _trades_loss(apply_fn, **kw)


TRAINING: Registry[Callable[..., LossFn]] = Registry(
  "adversarial training method",
  {"pgd": _pgd_method, "fgsm_rs": _fgsm_rs_method, "trades": _trades_method},
)


def training_loss(apply_fn: Callable[..., jax.Array], adversarial: Any) -> LossFn:
  """The classifier's training loss under ``config.adversarial``.

  Args:
    apply_fn: the classifier's ``apply`` (waveform in, logits out).
    adversarial: a mapping with ``method`` ("none" or a name in ``TRAINING``),
      ``eps``, ``norm``, ``budget`` ("eps" or "snr"), ``steps``, ``rel_step`` (step
      size over eps), ``adv_weight`` and ``beta`` (TRADES).

  Returns:
    ``loss_fn(params, batch, key) -> (loss, metrics)`` for the shared loop; the
    plain cross-entropy of :func:`audiojax.train.losses.classification_loss` for
    ``method="none"``.
  """
  method = adversarial["method"]
  if method == "none":
    return losses.classification_loss(apply_fn)
  if not adversarial["eps"] > 0:
    raise ValueError(f"adversarial training needs eps > 0, got {adversarial['eps']}")
  _check_budget(adversarial["budget"], adversarial["norm"])
  return TRAINING.get(method)(
    apply_fn,
    eps=float(adversarial["eps"]),
    norm=adversarial["norm"],
    steps=int(adversarial["steps"]),
    rel_step=float(adversarial["rel_step"]),
    adv_weight=float(adversarial["adv_weight"]),
    beta=float(adversarial["beta"]),
    budget=adversarial["budget"],
  )
