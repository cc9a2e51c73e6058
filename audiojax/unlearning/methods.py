"""The fine-tuning family of unlearning methods: retrain, FT, GA, NegGrad+, RL,
ℓ1-sparse and SalUn.

Each trains with its task's loss (:mod:`audiojax.unlearning.tasks`: the shared
classification loss of :mod:`audiojax.train.losses`, or a generator's denoising
loss) through :func:`audiojax.unlearning.fit.descend`; forget examples ascend
through a negative per-example weight or are relabelled (a random other class, or
for a generator another clip's conditions). Every method here works on both tasks.
Defaults follow the papers' CIFAR-10 recipes, scaled from epochs to steps (a
``steps`` option; the experiment configs set them for their data): SGD with
momentum 0.9 as in SalUn's code.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from audiojax.unlearning import fit
from audiojax.unlearning.base import method
from audiojax.unlearning.tasks import CLASSIFICATION, Task

BOTH = ("classification", "denoising")


def optimizer_of(opt):
  """The optimizer a method's ``COMMON`` options name (``tx`` overrides)."""
  return (
    opt["tx"] if opt["tx"] is not None else fit.optimizer(opt["optimizer"], opt["lr"])
  )


def _train(start, apply_fn, batch_fn, key, data, opt, task, **kw):
  """``opt["steps"]`` steps of the task's loss from ``start``."""
  tx = optimizer_of(opt)
  out, _ = fit.descend(
    start,
    task.loss(apply_fn),
    batch_fn,
    key,
    steps=opt["steps"],
    tx=tx,
    data=data,
    **kw,
  )
  return out


# What every training method takes (SGD with momentum 0.9, as in SalUn's code,
# unless ``optimizer="adam"``; ``tx`` overrides both with any optax optimizer).
COMMON = dict(steps=100, batch_size=64, optimizer="sgd", lr=0.01, tx=None)


def _draw(batch_size):
  return lambda k, data: fit.draw(data, k, batch_size)


@method(
  "retrain",
  required=("init_fn",),
  tasks=BOTH,
  **{**COMMON, "steps": 1000, "optimizer": "adam", "lr": 1e-3},
)
def retrain(params, apply_fn, retain, forget, key, *, task, init_fn, **opt):
  """Retraining from scratch on the retain set: the gold standard every approximate
  method is measured against (exact unlearning; Cao & Yang, 2015, "Towards making
  systems forget with machine unlearning").

  Ignores ``params`` and ``forget``. ``init_fn(key) -> params`` draws the fresh
  init; pass the original run's ``tx`` and ``steps`` to retrain with its recipe.
  """
  del params, forget
  k_init, k_run = jax.random.split(key)
  return _train(
    init_fn(k_init), apply_fn, _draw(opt["batch_size"]), k_run, retain, opt, task
  )


@method("finetune", tasks=BOTH, **COMMON)
def finetune(params, apply_fn, retain, forget, key, *, task, **opt):
  """FT: fine-tune on the retain set only, so the forget set fades by catastrophic
  forgetting (Warnecke et al., 2023, "Machine unlearning of features and labels";
  SalUn's FT baseline: 10 epochs, lr 0.01-0.1)."""
  del forget
  return _train(params, apply_fn, _draw(opt["batch_size"]), key, retain, opt, task)


@method("neggrad", tasks=BOTH, **{**COMMON, "steps": 10, "lr": 1e-3})
def neggrad(params, apply_fn, retain, forget, key, *, task, **opt):
  """GA / NegGrad: gradient ascent on the forget set's loss (Thudi et al., 2022,
  "Unrolling SGD"; Golatkar et al., 2020; SalUn's GA baseline: 5 epochs, lr 1e-5 to
  1e-3). Every forget example has weight -1 in the shared loss."""
  del retain
  size = opt["batch_size"]

  def batch_fn(k, data):
    return {**fit.draw(data, k, size), "weight": -jnp.ones((size,), jnp.float32)}

  return _train(params, apply_fn, batch_fn, key, forget, opt, task)


@method("neggrad_plus", tasks=BOTH, beta=0.95, **COMMON)
def neggrad_plus(params, apply_fn, retain, forget, key, *, task, beta, **opt):
  """NegGrad+: descend the retain loss and ascend the forget loss together,
  ``β L_retain − (1 − β) L_forget`` (Kurmanji et al., 2023, "Towards unbounded
  machine unlearning", NeurIPS; β is tuned there). Each batch is half retain
  (weight β) and half forget (weight β − 1)."""
  size = opt["batch_size"]

  def batch_fn(k, data):
    return fit.mixed_batch(*data, k, size, beta - 1.0, beta)

  return _train(params, apply_fn, batch_fn, key, (retain, forget), opt, task)


def _relabelled_batches(relabel, batch_size):
  """Half retain, half forget with wrong targets (the task's ``relabel``); data
  ``(retain, forget)``."""

  def batch_fn(k, data):
    kb, kl = jax.random.split(k)
    retain, forget = data
    batch = fit.mixed_batch(retain, forget, kb, batch_size, 1.0)
    half = batch["weight"].shape[0] // 2
    part = {k: v[half:] for k, v in batch.items()}
    wrong = relabel(part, retain, kl)
    return {k: v.at[half:].set(wrong[k]) for k, v in batch.items()}

  return batch_fn


@method("random_labels", tasks=BOTH, **COMMON)
def random_labels(params, apply_fn, retain, forget, key, *, task, **opt):
  """RL: fine-tune on forget examples given random wrong labels, beside retain
  examples (Golatkar et al., 2020, "Eternal sunshine of the spotless net"; SalUn's RL
  baseline: 10 epochs, lr 0.01-0.1). For a generator: forget clips paired with
  other clips' captions (No Encore's random labelling, Kim et al., 2025)."""
  batch_fn = _relabelled_batches(
    task.relabeller(params, apply_fn, forget), opt["batch_size"]
  )
  return _train(params, apply_fn, batch_fn, key, (retain, forget), opt, task)


@method("l1_sparse", tasks=BOTH, gamma=5e-4, **COMMON)
def l1_sparse(params, apply_fn, retain, forget, key, *, task, gamma, **opt):
  """ℓ1-sparse: fine-tune on retain with an ℓ1 penalty whose weight decays linearly
  from ``gamma`` to 0 (Jia et al., 2023, "Model sparsity can simplify machine
  unlearning", NeurIPS; their CIFAR-10 choice γ = 5e-4, 10 epochs). Sparser weights
  carry less of the forget set's signature."""
  del forget
  steps = max(opt["steps"], 1)

  def penalty(p, step):
    l1 = sum(jnp.abs(x).sum() for x in jax.tree.leaves(p))
    return gamma * (1.0 - step / steps) * l1

  return _train(
    params,
    apply_fn,
    _draw(opt["batch_size"]),
    key,
    retain,
    opt,
    task,
    penalty=penalty,
  )


def saliency_mask(
  params,
  apply_fn,
  forget,
  sparsity: float,
  batch_size: int = 64,
  task: Task = CLASSIFICATION,
):
  """SalUn's weight saliency: 1 for the ``1 − sparsity`` fraction of weights with
  the largest ``|∂ L_forget / ∂θ|`` over the whole forget set (one global
  threshold), 0 elsewhere. A generator's loss is measured at fixed draws of time
  and noise (``key(0)``), as SalUn does for diffusion models."""
  per_example = task.example_losses(apply_fn)

  def grad_sum(block, valid, p):
    def loss(p):
      return jnp.sum(per_example(p, block, jax.random.key(0)) * valid)

    return jax.grad(loss)(p)

  per_batch = fit.over_batches(grad_sum, forget, batch_size, params)
  grads = jax.tree.map(lambda g: jnp.abs(g.sum(0)), per_batch)
  flat = jnp.concatenate([g.ravel() for g in jax.tree.leaves(grads)])
  threshold = jnp.quantile(flat, sparsity)
  return jax.tree.map(lambda g: (g > threshold).astype(jnp.float32), grads)


@method("salun", tasks=BOTH, sparsity=0.5, **COMMON)
def salun(params, apply_fn, retain, forget, key, *, task, sparsity, **opt):
  """SalUn: random labelling restricted to the salient weights (Fan et al., 2024,
  "SalUn: Empowering machine unlearning via gradient-based weight saliency", ICLR;
  sparsity 0.5, 10 epochs, lr 5e-3 to 2e-2 on CIFAR-10). Only weights in
  :func:`saliency_mask` change. For a generator (SalUn's own diffusion recipe):
  forget images paired with other captions beside retain examples, masked."""
  batch_fn = _relabelled_batches(
    task.relabeller(params, apply_fn, forget), opt["batch_size"]
  )
  mask = saliency_mask(params, apply_fn, forget, sparsity, task=task)
  return _train(params, apply_fn, batch_fn, key, (retain, forget), opt, task, mask=mask)
